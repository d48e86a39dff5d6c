"""Hindsight Experience Replay (Andrychowicz et al. 2017) for RLlib's SAC on the new API stack.

RLlib's SAC samples 1-step transitions (o_t, a_t, r, o_t+n) from an episode replay buffer.
This buffer relabels a share of them at sample time: the desired goal in o_t and o_t+n
becomes a goal the same episode achieved later (`future`), at its last stored step
(`final`) or anywhere in it (`episode`), and the reward is recomputed with the env's own
`compute_reward`, in one vectorized call per batch. An episode still running in the buffer
only offers goals it has already reached: the buffer holds nothing beyond them.

Observations reach the buffer flattened by RLlib's FlattenObservations connector, in
sorted key order (achieved_goal | desired_goal | observation); `goal_layout` names the
slices. `HindsightSAC` is SAC with this buffer, plugged in where RLlib creates it.
"""

from typing import Any, Literal

import gymnasium as gym
import numpy as np
from ray.rllib.algorithms.sac import SAC
from ray.rllib.env.single_agent_episode import SingleAgentEpisode
from ray.rllib.utils.replay_buffers.episode_replay_buffer import EpisodeReplayBuffer

from rapid.platform.registry import ENVS

GOAL_KEYS = ("achieved_goal", "desired_goal", "observation")
Strategy = Literal["future", "final", "episode"]


def goal_env_problem(env: gym.Env) -> str | None:
    """What keeps `env` from being a goal env HER can relabel, or None when it is one."""
    space = env.observation_space
    if not isinstance(space, gym.spaces.Dict) or set(GOAL_KEYS) - set(space.spaces):
        return f"its observations are {space}, not a Dict with keys {', '.join(GOAL_KEYS)}"
    if not callable(getattr(env.unwrapped, "compute_reward", None)):
        return "it has no compute_reward(achieved_goal, desired_goal, info) to recompute rewards with"
    return None


def goal_layout(space: gym.spaces.Dict) -> dict[str, slice]:
    """Where each key of a goal env's Dict observation sits in RLlib's flattened vector."""
    layout, start = {}, 0
    for key in sorted(space.spaces):
        size = gym.spaces.flatdim(space.spaces[key])
        layout[key] = slice(start, start + size)
        start += size
    return layout


class HindsightReplayBuffer(EpisodeReplayBuffer):
    """RLlib's uniform episode buffer that relabels goals at sample time.

    With `strategy=None` it never relabels: the no-HER baseline uses the same buffer.
    """

    def __init__(
        self,
        capacity: int = 1_000_000,
        *,
        env: str,
        env_config: dict[str, Any],
        strategy: Strategy | None = "future",
        k: int = 4,
        **kwargs: Any,
    ) -> None:
        super().__init__(capacity, **kwargs)
        goal_env = ENVS.get(env)(dict(env_config))
        self.compute_reward = goal_env.unwrapped.compute_reward
        self.layout = goal_layout(goal_env.observation_space)
        self.strategy = strategy
        # k relabelled goals per real one: the share relabelled is k / (k + 1) (0.8 for k = 4).
        self.relabel_probability = 0.0 if strategy is None else 1.0 - 1.0 / (1 + k)

    def _sample_episodes(self, *args: Any, **kwargs: Any) -> list[SingleAgentEpisode]:
        if kwargs.get("batch_length_T"):
            raise ValueError("HER relabels single transitions; recurrent modules (sequence sampling) are not supported")
        sampled = super()._sample_episodes(*args, **kwargs)
        if self.relabel_probability > 0:
            self.relabel(sampled, gamma=kwargs.get("gamma", 0.99))
        return sampled

    def relabel(self, sampled: list[SingleAgentEpisode], gamma: float) -> None:
        """Give a `relabel_probability` share of the transitions a hindsight goal, in place."""
        chosen = [e for e in sampled if self.rng.random() < self.relabel_probability]
        if not chosen:
            return
        achieved, desired = self.layout["achieved_goal"], self.layout["desired_goal"]
        goals, next_achieved, steps = [], [], []
        for transition in chosen:
            source = self.episodes[self.episode_id_to_index[transition.id_] - self._num_episodes_evicted]
            t = transition.t_started
            n = min(int(transition.extra_model_outputs["n_step"][0]), len(source) - t)
            goal_step = self._goal_step(t + n, len(source))
            goals.append(source.get_observations(goal_step)[achieved])
            next_achieved.append(np.stack([source.get_observations(t + 1 + i)[achieved] for i in range(n)]))
            steps.append(n)
        goal = np.stack(goals)
        longest = max(steps)
        # Every step's reward in one compute_reward call; steps past an item's n are masked out.
        padded = np.stack([np.concatenate([a, np.repeat(a[-1:], longest - len(a), 0)]) for a in next_achieved])
        per_step = self.compute_reward(
            padded.reshape(-1, goal.shape[-1]), np.repeat(goal, longest, axis=0), None
        ).reshape(len(chosen), longest)
        mask = np.arange(longest)[None, :] < np.asarray(steps)[:, None]
        rewards = (per_step * mask * gamma ** np.arange(longest)[None, :]).sum(axis=1)
        for transition, g, reward in zip(chosen, goal, rewards, strict=True):
            for index in (0, 1):
                obs = np.array(transition.get_observations(index), copy=True)
                obs[desired] = g
                transition.set_observations(new_data=obs, at_indices=index)
            transition.set_rewards(new_data=float(reward), at_indices=0)

    def _goal_step(self, first_future: int, last: int) -> int:
        """The observation index whose achieved goal becomes the new desired goal."""
        if self.strategy == "future":
            return int(self.rng.integers(first_future, last + 1))
        if self.strategy == "final":
            return last
        return int(self.rng.integers(0, last + 1))


class HindsightSAC(SAC):
    """SAC whose replay buffer is a HindsightReplayBuffer (RLlib accepts only its own buffer
    type names in replay_buffer_config, so the buffer is created here instead)."""

    def _create_local_replay_buffer_if_necessary(self, config: dict[str, Any]) -> HindsightReplayBuffer:
        options = {k: v for k, v in config["replay_buffer_config"].items() if k not in ("type", "her")}
        her = config["replay_buffer_config"].get("her") or {"strategy": None}
        return HindsightReplayBuffer(
            env=self.config.env,
            env_config=self.config.env_config,
            metrics_num_episodes_for_smoothing=self.config.metrics_num_episodes_for_smoothing,
            **her,
            **options,
        )

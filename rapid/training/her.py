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
from ray.rllib.core import DEFAULT_AGENT_ID, DEFAULT_MODULE_ID
from ray.rllib.env.single_agent_episode import SingleAgentEpisode
from ray.rllib.env.utils.infinite_lookback_buffer import InfiniteLookbackBuffer
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
        goal_env.close()
        self.strategy = strategy
        # k relabelled goals per real one: the share relabelled is k / (k + 1) (0.8 for k = 4).
        self.relabel_probability = 0.0 if strategy is None else 1.0 - 1.0 / (1 + k)

    def _sample_episodes(
        self,
        num_items: int | None = None,
        *,
        batch_size_B: int | None = None,
        batch_length_T: int | None = None,
        n_step: int = 1,
        gamma: float = 0.99,
        include_extra_model_outputs: bool = False,
        lookback: int = 1,
        **_: Any,
    ) -> list[SingleAgentEpisode]:
        """`batch_size_B` transitions drawn uniformly over stored steps, as RLlib's buffer draws
        them, built straight from the stored episodes (RLlib slices an episode per transition,
        which cost SAC more than its learner update here) and relabelled on the way."""
        if batch_length_T or not isinstance(n_step, int):
            raise ValueError("HER relabels single n-step transitions: no sequences (recurrent modules), no random n_step")
        size = num_items or batch_size_B or self.batch_size_B
        picks = self.rng.integers(len(self._indices), size=size)
        relabelled = self.rng.random(size) < self.relabel_probability
        transitions, goals, next_achieved = [], [], []
        for pick, relabel in zip(picks, relabelled, strict=True):
            episode_index, t = self._indices[pick]
            episode = self.episodes[episode_index - self._num_episodes_evicted]
            steps = min(n_step, len(episode) - t)
            transitions.append(self._transition(episode, t, steps, gamma, include_extra_model_outputs, lookback))
            if relabel:
                goal_step = self._goal_step(t + steps, len(episode))
                goals.append(episode.get_observations(goal_step)[self.layout["achieved_goal"]])
                later = np.asarray(episode.get_observations(slice(t + 1, t + 1 + steps)))
                next_achieved.append(later[:, self.layout["achieved_goal"]])
        if goals:
            chosen = [tr for tr, relabel in zip(transitions, relabelled, strict=True) if relabel]
            self._relabel(chosen, np.stack(goals), next_achieved, gamma)
        self.sampled_timesteps += size
        self._log_sample(size, len({self._indices[p][0] for p in picks}), len(set(picks.tolist())), n_step)
        return transitions

    @staticmethod
    def _transition(
        episode: SingleAgentEpisode, t: int, steps: int, gamma: float, extra_outputs: bool, lookback: int
    ) -> SingleAgentEpisode:
        """(o_t, a_t, discounted reward over `steps`, o_t+steps) as a one-step episode, as RLlib's buffer returns it."""
        rewards = np.asarray(episode.get_rewards(slice(t, t + steps)), dtype=np.float64)
        at_end = t + steps == len(episode)
        transition = SingleAgentEpisode(
            id_=episode.id_,
            agent_id=episode.agent_id,
            module_id=episode.module_id,
            observation_space=episode.observation_space,
            action_space=episode.action_space,
            observations=[episode.get_observations(t), episode.get_observations(t + steps)],
            actions=[episode.get_actions(t)],
            rewards=[float(rewards @ gamma ** np.arange(steps))],
            infos=[episode.get_infos(t), episode.get_infos(t + steps)],
            terminated=at_end and episode.is_terminated,
            truncated=at_end and episode.is_truncated,
            extra_model_outputs=(
                {k: [episode.get_extra_model_outputs(k, t)] for k in episode.extra_model_outputs} if extra_outputs else {}
            ),
            t_started=t,
            len_lookback_buffer=0,
        )
        # What RLlib's SAC loss reads besides the transition: the discount exponent (the steps
        # actually taken: fewer than n at an episode's end) and a unit weight (no prioritization).
        transition.extra_model_outputs["n_step"] = InfiniteLookbackBuffer(np.full((1 + lookback,), steps), lookback=lookback)
        transition.extra_model_outputs["weights"] = InfiniteLookbackBuffer(np.ones((1 + lookback,)), lookback=lookback)
        return transition

    def _relabel(
        self, chosen: list[SingleAgentEpisode], goal: np.ndarray, next_achieved: list[np.ndarray], gamma: float
    ) -> None:
        """New desired goals in o_t and o_t+n, rewards from one vectorized compute_reward call."""
        longest = max(len(a) for a in next_achieved)
        # Items with fewer steps (an episode's end) repeat their last achieved goal; the mask drops those rewards.
        padded = np.stack([np.concatenate([a, np.repeat(a[-1:], longest - len(a), 0)]) for a in next_achieved])
        per_step = self.compute_reward(padded.reshape(-1, goal.shape[-1]), np.repeat(goal, longest, axis=0), None)
        mask = np.arange(longest)[None, :] < np.array([len(a) for a in next_achieved])[:, None]
        rewards = (per_step.reshape(len(chosen), longest) * mask * gamma ** np.arange(longest)).sum(axis=1)
        desired = self.layout["desired_goal"]
        for transition, g, reward in zip(chosen, goal, rewards, strict=True):
            for index in (0, 1):
                obs = np.array(transition.get_observations(index), copy=True)
                obs[desired] = g
                transition.set_observations(new_data=obs, at_indices=index)
            transition.set_rewards(new_data=float(reward), at_indices=0)

    def _log_sample(self, size: int, episodes: int, steps: int, n_step: int) -> None:
        """RLlib's replay-buffer sample metrics (single agent, default module)."""
        per = {"num_steps_sampled": size, "num_episodes_per_sample": episodes, "num_steps_per_sample": steps,
               "sampled_n_step": float(n_step), "num_resamples": 0}
        self._update_sample_metrics(
            num_env_steps_sampled=size,
            num_episodes_per_sample=episodes,
            num_env_steps_per_sample=steps,
            sampled_n_step=float(n_step),
            num_resamples=0,
            **{f"agent_to_{key}": {DEFAULT_AGENT_ID: value} for key, value in per.items()},
            **{f"module_to_{key}": {DEFAULT_MODULE_ID: value} for key, value in per.items()},
        )

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

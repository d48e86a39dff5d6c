"""Hindsight Experience Replay (Andrychowicz et al. 2017) for RLlib's SAC on the new API stack.

RLlib's SAC learns from 1-step transitions (o_t, a_t, r, o_t+n) drawn from an episode replay
buffer. This buffer relabels a share of them at sample time: the desired goal in o_t and o_t+n
becomes a goal the same episode achieved later (`future`), at its last stored step (`final`)
or anywhere in it (`episode`), and the reward is recomputed with the env's own
`compute_reward`, in one vectorized call per batch. An episode still running in the buffer
only offers goals it has already reached: the buffer holds nothing beyond them.

Observations reach the buffer flattened by RLlib's FlattenObservations connector, in
sorted key order (achieved_goal | desired_goal | observation); `goal_layout` names the
slices. The buffer keeps RLlib's episodes (its adding, eviction and checkpoint state) and a
numpy copy of each, and hands SAC's learner the batch's columns directly: building a
one-step episode per transition and running the learner connectors over them cost more
than the update itself. `HindsightSAC` (algorithm.py) is rapid's SAC with this buffer and that hand-over.
"""

from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from ray.rllib.core import DEFAULT_AGENT_ID, DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns
from ray.rllib.env.single_agent_episode import SingleAgentEpisode
from ray.rllib.utils.replay_buffers.episode_replay_buffer import EpisodeReplayBuffer

from rapid.platform.env_stack import make_env

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


@dataclass(frozen=True)
class StoredSteps:
    """One stored episode as arrays: observations 0..T, actions, rewards and whether it terminated at T."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminated: bool

    @classmethod
    def of(cls, episode: SingleAgentEpisode) -> "StoredSteps":
        steps = slice(0, len(episode))
        return cls(
            np.asarray(episode.get_observations(slice(0, len(episode) + 1)), dtype=np.float32),
            np.asarray(episode.get_actions(steps), dtype=np.float32),
            np.asarray(episode.get_rewards(steps), dtype=np.float64),
            episode.is_terminated,
        )


class HindsightReplayBuffer(EpisodeReplayBuffer):
    """RLlib's uniform episode buffer that relabels goals at sample time and samples columns.

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
        goal_env = make_env(env, env_config)
        self.compute_reward = goal_env.unwrapped.compute_reward
        self.layout = goal_layout(goal_env.observation_space)
        goal_env.close()
        self.strategy = strategy
        # k relabelled goals per real one: the share relabelled is k / (k + 1) (0.8 for k = 4).
        self.relabel_probability = 0.0 if strategy is None else 1.0 - 1.0 / (1 + k)
        # StoredSteps of each episode in self.episodes, in the same order: a second float32 copy
        # of the observations (about 124 MB per million FetchPush steps), read without slicing episodes.
        self.stored: deque[StoredSteps] = deque()

    def add(self, episodes: list[SingleAgentEpisode] | SingleAgentEpisode) -> None:
        """RLlib's add (chunks join their episode, the oldest episodes are evicted), then the arrays
        of every episode the chunks touched."""
        chunks = episodes if isinstance(episodes, list) else [episodes]
        evicted = self._num_episodes_evicted
        super().add(chunks)
        evicted = self._num_episodes_evicted - evicted
        # The episodes now stored are the old ones after the evicted, then the new ones.
        self.stored.extend([None] * (len(self.episodes) + evicted - len(self.stored)))
        for _ in range(evicted):
            self.stored.popleft()
        for chunk in chunks:
            index = self.episode_id_to_index.get(chunk.id_)
            if index is not None:
                position = index - self._num_episodes_evicted
                self.stored[position] = StoredSteps.of(self.episodes[position])

    def set_state(self, state: dict[str, Any]) -> None:
        """A checkpointed buffer, its arrays rebuilt from its episodes."""
        super().set_state(state)
        self.stored = deque(StoredSteps.of(episode) for episode in self.episodes)

    def sample(
        self, num_items: int | None = None, *, n_step: int = 1, gamma: float = 0.99, batch_length_T: int = 0
    ) -> dict[str, np.ndarray]:
        """`num_items` transitions drawn uniformly over stored steps, as RLlib's buffer draws them,
        as SAC's train-batch columns (obs, new_obs, actions, rewards, terminateds, n_step, weights;
        `t` says each one's step in its episode), k/(k+1) of them relabelled."""
        if batch_length_T or not isinstance(n_step, int):
            raise ValueError("HER relabels single n-step transitions: no sequences (recurrent modules), no random n_step")
        size = num_items or self.batch_size_B
        picks = self.rng.integers(len(self._indices), size=size)
        relabel = self.rng.random(size) < self.relabel_probability
        goal_draw = self.rng.random(size)
        dim = self.stored[0].observations.shape[1]
        obs, next_obs = np.empty((size, dim), np.float32), np.empty((size, dim), np.float32)
        actions = np.empty((size, *self.stored[0].actions.shape[1:]), np.float32)
        rewards, terminated = np.zeros((size, n_step)), np.zeros(size, bool)
        steps, t_of = np.empty(size, np.int64), np.empty(size, np.int64)
        achieved = self.layout["achieved_goal"]
        goals = np.empty((size, achieved.stop - achieved.start), np.float32)
        next_achieved = np.empty((size, n_step, achieved.stop - achieved.start), np.float32)
        for i, pick in enumerate(picks):
            episode_index, t = self._indices[pick]
            ep = self.stored[episode_index - self._num_episodes_evicted]
            length = len(ep.rewards)
            n = min(n_step, length - t)
            steps[i], t_of[i] = n, t
            obs[i], next_obs[i], actions[i] = ep.observations[t], ep.observations[t + n], ep.actions[t]
            rewards[i, :n] = ep.rewards[t : t + n]
            terminated[i] = ep.terminated and t + n == length
            if relabel[i]:
                goals[i] = ep.observations[self._goal_step(t + n, length, goal_draw[i]), achieved]
                # Fewer steps than n (an episode's end) repeat the last achieved goal; the discount mask drops them.
                next_achieved[i] = ep.observations[np.minimum(np.arange(t + 1, t + 1 + n_step), t + n), achieved]
        discount = gamma ** np.arange(n_step) * (np.arange(n_step)[None, :] < steps[:, None])
        if relabel.any():
            goal = goals[relabel]
            reached = next_achieved[relabel].reshape(-1, goal.shape[1])
            per_step = self.compute_reward(reached, np.repeat(goal, n_step, axis=0), None)
            rewards[relabel] = per_step.reshape(-1, n_step)
            obs[relabel, self.layout["desired_goal"]] = goal
            next_obs[relabel, self.layout["desired_goal"]] = goal
        self.sampled_timesteps += size
        self._log_sample(size, len({self._indices[p][0] for p in picks}), len(set(picks.tolist())), n_step)
        return {
            Columns.OBS: obs,
            Columns.NEXT_OBS: next_obs,
            Columns.ACTIONS: actions,
            Columns.REWARDS: (rewards * discount).sum(axis=1).astype(np.float32),
            Columns.TERMINATEDS: terminated,
            # What SAC's loss reads besides the transition: the discount exponent (the steps
            # actually taken: fewer than n at an episode's end) and a unit weight (no prioritization).
            "n_step": steps.astype(np.float32),
            "weights": np.ones(size, np.float32),
            Columns.T: t_of,
        }

    def _goal_step(self, first_future: int, last: int, draw: float) -> int:
        """The observation index whose achieved goal becomes the new desired goal (`draw` uniform in [0, 1))."""
        if self.strategy == "future":
            return first_future + int(draw * (last + 1 - first_future))
        if self.strategy == "final":
            return last
        return int(draw * (last + 1))

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

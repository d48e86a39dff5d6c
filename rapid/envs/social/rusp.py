"""Randomized Uncertain Social Preferences (Baker 2020): the agents of any multi-agent env come to
care, uncertainly, about each other's rewards, without any change to the game itself.

Each episode (facts from openai/multi-agent-emergence-environments,
`randomized_uncertain_social_preferences/rusp/wrappers_rusp.py`):
- the agents are split into teams whose sizes lie in [min_team_size, max_team_size], the sizes
  drawn uniformly among such integer partitions of the agent count (3 agents: {3}, {2, 1} and
  {1, 1, 1}, a third each);
- a relationship matrix M is 0 across teams and Beta(alpha, beta) within them, its diagonal
  included, mirrored from its lower triangle so that it is symmetric, then its rows and columns
  permuted by one random permutation of the agents (a team's members sit anywhere in the order);
- agent i's reward becomes sum_j T_ij r_j, T being M with each row divided by its sum;
- every observer i draws a noise level per entry, sigma_ijk ~ U[noise[0], noise[1]], and believes
  M + N(0, sigma_i) for the whole episode (added before normalization, not clipped, as the
  original does).
Agent i observes `rusp` (4 * n,): its noisy row of M, that row's noise levels, the noisy diagonal
of M (how much each agent cares about its own reward) and its noise levels, each in agent order.
Its critic's `rusp_critic` (4 * n,) holds the true row and diagonal, and what each agent j
believes M_ji to be with those noise levels (the original routes the same to its value function).
`evaluation: true` makes M the identity and every noise 0: selfish agents that know it, with
rewards passed on untouched (bit for bit the env's). Every episode's last info carries
`social_welfare`: the sum of all agents' own rewards, before any mixing.

An env whose observations are a Dict gets the two keys added; any other observation becomes the
`obs` key of a Dict beside them.
"""

import operator
from functools import cache
from typing import Any, NamedTuple

import numpy as np
from gymnasium import spaces
from pettingzoo.utils.env import ParallelEnv
from pettingzoo.utils.wrappers import BaseParallelWrapper
from pydantic import Field, model_validator

from rapid.platform.episode_metrics import EpisodeMetric
from rapid.platform.plugins import EnvWrapper, SettingsError, Strict
from rapid.platform.schema_errors import KeyProblem

RUSP_KEY, CRITIC_KEY, OBS_KEY = "rusp", "rusp_critic", "obs"
WELFARE = "social_welfare"  # the episode's sum of every agent's own (unmixed) rewards, in its last info
# Episodes whose relationships are drawn in one go.
EPISODES_PER_DRAW = 256
WHERE = ("env_config", "rusp")


class RuspSettings(Strict):
    """`env_config: {rusp: {...}}`; `rusp: {}` is the paper's setting on any number of agents."""

    min_team_size: int = Field(1, ge=1, description="smallest team")
    max_team_size: int | None = Field(None, ge=1, description="largest team (null: every agent, one team possible)")
    alpha: float = Field(1.0, gt=0.0, description="Beta(alpha, beta) of the relationship entries within a team")
    beta: float = Field(1.0, gt=0.0, description="Beta(alpha, beta) of the relationship entries within a team")
    noise: list[float] = Field([0.0, 1.0], min_length=2, max_length=2,
                               description="[low, high] of each entry's noise level (a standard deviation), within [0, 1]")
    evaluation: bool = Field(False, description="identity relationships and no noise: selfish agents, the env's own rewards")

    @model_validator(mode="after")
    def _consistent(self) -> "RuspSettings":
        low, high = self.noise
        if not 0.0 <= low <= high <= 1.0:
            raise KeyProblem("noise", f"[{low}, {high}] is not a range within [0, 1] with low <= high")
        if self.max_team_size is not None and self.max_team_size < self.min_team_size:
            raise KeyProblem("max_team_size", f"{self.max_team_size} is smaller than min_team_size={self.min_team_size}")
        return self


@cache
def team_sizes(n: int, smallest: int, largest: int) -> tuple[tuple[int, ...], ...]:
    """Every way to write n as a sum of team sizes within [smallest, largest], sizes non-decreasing."""
    if n == 0:
        return ((),)
    return tuple((first, *rest) for first in range(smallest, min(largest, n) + 1)
                 for rest in team_sizes(n - first, first, largest))


class SocialPreferences(NamedTuple):
    """Relationships among n agents, of one episode or of a batch of them (a leading axis): `M`
    (n, n) symmetric before the permutation, `T` its row-normalized reward transform, `believed`
    (n, n, n) what each observer believes M is, `noise` (n, n, n) the standard deviations of those
    beliefs."""

    M: np.ndarray
    T: np.ndarray
    believed: np.ndarray
    noise: np.ndarray

    def episode(self, k: int) -> "SocialPreferences":
        return SocialPreferences(self.M[k], self.T[k], self.believed[k], self.noise[k])

    def views(self) -> tuple[np.ndarray, np.ndarray]:
        """(..., n, 4n) float32 each: every observer's own view and its critic's (see the module docstring)."""
        n = self.M.shape[-1]
        agents = np.arange(n)
        row, row_noise = self.believed[..., agents, agents, :], self.noise[..., agents, agents, :]  # [i, k]: i's belief of M_ik
        diagonal, diagonal_noise = self.believed[..., agents, agents], self.noise[..., agents, agents]  # [i, k]: of M_kk
        own = np.concatenate([row, row_noise, diagonal, diagonal_noise], axis=-1)
        truth = np.broadcast_to(self.M[..., None, agents, agents], self.M.shape)
        # The transposed rows: [i, j] is j's belief of M_ji.
        critic = np.concatenate([self.M, truth, np.swapaxes(row, -1, -2), np.swapaxes(row_noise, -1, -2)], axis=-1)
        return own.astype(np.float32), critic.astype(np.float32)


def draw_preferences(settings: RuspSettings, n: int, rng: np.random.Generator, episodes: int) -> SocialPreferences:
    """The relationships of `episodes` episodes at once (numpy's cost is per call, not per number)."""
    if settings.evaluation:
        M = np.broadcast_to(np.eye(n), (episodes, n, n)).copy()
        noise = np.zeros((episodes, n, n, n))
    else:
        partitions = team_sizes(n, settings.min_team_size, settings.max_team_size or n)
        labels = np.array([np.repeat(np.arange(len(sizes)), sizes) for sizes in partitions])
        team = labels[rng.integers(len(partitions), size=episodes)]  # (episodes, n)
        within = team[:, :, None] == team[:, None, :]
        drawn = np.where(within, rng.beta(settings.alpha, settings.beta, (episodes, n, n)), 0.0)
        symmetric = np.tril(drawn, -1) + np.swapaxes(np.tril(drawn), 1, 2)
        order = np.argsort(rng.random((episodes, n)), axis=1)  # a uniform permutation per episode
        M = np.take_along_axis(np.take_along_axis(symmetric, order[:, :, None], 1), order[:, None, :], 2)
        noise = rng.uniform(*settings.noise, (episodes, n, n, n))
    believed = M[:, None] + rng.normal(0.0, 1.0, noise.shape) * noise
    return SocialPreferences(M, M / M.sum(axis=-1, keepdims=True), believed, noise)


class Rusp(BaseParallelWrapper):
    """A ParallelEnv under RUSP: each episode's relationships mix the rewards, and each agent's
    observation carries its view of them (`preferences` is the present episode's)."""

    def __init__(self, env: ParallelEnv, settings: RuspSettings) -> None:
        super().__init__(env)
        self.settings = settings
        self._index = {agent: i for i, agent in enumerate(env.possible_agents)}
        self._mixing = not settings.evaluation
        self._wraps_dict = isinstance(env.observation_space(env.possible_agents[0]), spaces.Dict)
        view = spaces.Box(-np.inf, np.inf, (4 * len(self._index),), np.float32)
        self._spaces = {agent: _with_views(env.observation_space(agent), view) for agent in env.possible_agents}
        self._rng = np.random.default_rng()
        self._draw()
        self._new_episode()

    def observation_space(self, agent: str) -> spaces.Dict:
        return self._spaces[agent]

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        if seed is not None:
            self._rng = np.random.default_rng(seed)
            self._draw()
        observations, infos = self.env.reset(seed=seed, options=options)
        self._new_episode()
        return self._observe(observations), infos

    @property
    def agents(self) -> list[str]:
        """The wrapped env's live agents, read directly (PettingZoo's wrapper finds it by a slow __getattr__)."""
        return self.env.agents

    @property
    def preferences(self) -> SocialPreferences:
        """The present episode's relationships."""
        return self._pool.episode(self._episode)

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        observations, rewards, terminations, truncations, infos = self.env.step(actions)
        self._welfare += sum(rewards.values())
        if not self.env.agents:
            for info in infos.values():
                info[WELFARE] = self._welfare
        if self._mixing:
            rewards = self._mix(rewards)
        return self._observe(observations), rewards, terminations, truncations, infos

    def _draw(self) -> None:
        """A pool of the next episodes' relationships, drawn at once."""
        self._pool = draw_preferences(self.settings, len(self._index), self._rng, EPISODES_PER_DRAW)
        self._own, self._critic = self._pool.views()
        self._own.flags.writeable = self._critic.flags.writeable = False  # handed out at every step
        self._episode = -1

    def _new_episode(self) -> None:
        self._welfare = 0.0
        self._episode += 1
        if self._episode == EPISODES_PER_DRAW:
            self._draw()
            self._episode = 0
        k = self._episode
        self._views = dict(zip(self._index, zip(self._own[k], self._critic[k], strict=True), strict=True))
        self._weights = dict(zip(self._index, self._pool.T[k].tolist(), strict=True))

    def _mix(self, rewards: dict[str, float]) -> dict[str, float]:
        """r'_i = sum_j T_ij r_j; an agent without a reward this step (it is done) adds 0. Plain
        Python: for the few agents of a social game it is several times faster than numpy."""
        paid = [rewards.get(agent, 0.0) for agent in self._index]
        weights = self._weights
        return {agent: sum(map(operator.mul, weights[agent], paid)) for agent in rewards}

    def _observe(self, observations: dict[str, Any]) -> dict[str, dict[str, Any]]:
        views = self._views
        if self._wraps_dict:
            return {agent: {**observation, RUSP_KEY: views[agent][0], CRITIC_KEY: views[agent][1]}
                    for agent, observation in observations.items()}
        return {agent: {OBS_KEY: observation, RUSP_KEY: views[agent][0], CRITIC_KEY: views[agent][1]}
                for agent, observation in observations.items()}


def _with_views(space: spaces.Space, view: spaces.Box) -> spaces.Dict:
    """The env's observation space with the two views added (a non-Dict space becomes `obs`)."""
    parts = dict(space.spaces) if isinstance(space, spaces.Dict) else {OBS_KEY: space}
    taken = {RUSP_KEY, CRITIC_KEY} & set(parts)
    if taken:
        raise SettingsError([(WHERE, f"the env's observations already have the key(s) {sorted(taken)} that RUSP adds")])
    return spaces.Dict({**parts, RUSP_KEY: view, CRITIC_KEY: view})


def wrap_rusp(env: Any, settings: RuspSettings, actor: Any = None) -> Rusp:
    """The `rusp` env_config key: a SettingsError when RUSP cannot apply to the env's agents."""
    if not isinstance(env, ParallelEnv):
        raise SettingsError([(WHERE, f"RUSP mixes the rewards of several agents; {type(env).__name__} is a "
                                     "single-agent env: pick a multi-agent (PettingZoo ParallelEnv) env")])
    n = len(env.possible_agents)
    if settings.min_team_size > n:
        raise SettingsError([(WHERE + ("min_team_size",), f"{settings.min_team_size} is more than the env's {n} agents")])
    return Rusp(env, settings)


RUSP_WRAPPER = EnvWrapper(wrap=wrap_rusp, schema=RuspSettings, order=200,
                          episode_metrics={WELFARE: EpisodeMetric(WELFARE)})

"""What every repeated social game here shares: a chance to end after each round, one observation
and action space for all agents, seeding, the order in which an agent sees the others, and the
shape of a step. A game fills in four hooks: `new_episode`, `play`, `observe` and `summary`."""

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo.utils.env import ParallelEnv
from pydantic import Field

from rapid.platform.plugins import Strict


class RepeatedGameConfig(Strict):
    """Every game's ending: a chance after each round, and a cap."""

    end_probability: float = Field(0.1, gt=0.0, le=1.0, description="chance that the game ends after each round")
    max_rounds: int = Field(1000, ge=1, description="rounds after which an episode is truncated all the same")

    def ends(self, rng: np.random.Generator, rounds: int) -> tuple[bool, bool]:
        """After `rounds` rounds: (the game ended by chance, it was cut at max_rounds instead)."""
        ended = bool(rng.random() < self.end_probability)
        return ended, not ended and rounds >= self.max_rounds


def others_order(n: int) -> np.ndarray:
    """(n, n - 1): for agent i, the other agents in the order i+1, i+2, ... (mod n)."""
    return (np.arange(n)[:, None] + np.arange(1, n)[None, :]) % n


class RepeatedGame(ParallelEnv):
    """A ParallelEnv of rounds in which every agent acts, until the config's coin ends the game.

    `rounds` counts the rounds played; `others` (n, n - 1) lists, for agent i, the other agents
    in the order i+1, i+2, ... (mod n), the order in which each agent observes them.
    """

    metadata = {"render_modes": []}

    def __init__(self, config: RepeatedGameConfig, agents: list[str], observation_space: spaces.Space,
                 action_space: spaces.Space) -> None:
        self.config = config
        self.possible_agents = list(agents)
        self.agents: list[str] = []
        self._observation_space, self._action_space = observation_space, action_space
        self.others = others_order(len(agents))
        self._rng = np.random.default_rng()
        self.rounds = 0

    def observation_space(self, agent: str) -> spaces.Space:
        return self._observation_space

    def action_space(self, agent: str) -> spaces.Space:
        return self._action_space

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.agents = list(self.possible_agents)
        self.rounds = 0
        self.new_episode()
        return self.observe(), {agent: {} for agent in self.agents}

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        self.rounds += 1
        rewards = self.play(actions)
        ended, cut = self.config.ends(self._rng, self.rounds)
        infos: dict[str, dict] = {agent: {} for agent in self.possible_agents}
        if ended or cut:
            for agent, summary in zip(self.possible_agents, self.summary(), strict=True):
                infos[agent].update(summary)
            self.agents = []
        agents = self.possible_agents
        return (self.observe(), dict(zip(agents, rewards.tolist(), strict=True)), dict.fromkeys(agents, ended),
                dict.fromkeys(agents, cut), infos)

    def new_episode(self) -> None:
        """Start the game's own state (its random draws from `self._rng`)."""
        raise NotImplementedError

    def play(self, actions: dict[str, Any]) -> np.ndarray:
        """Round `rounds` (from 1): the game's own state moves on; (n,) rewards in agent order."""
        raise NotImplementedError

    def observe(self) -> dict[str, np.ndarray]:
        """Every agent's observation of the present state."""
        raise NotImplementedError

    def summary(self) -> list[dict[str, float]]:
        """Per agent, in order: the figures of the episode that just ended."""
        raise NotImplementedError

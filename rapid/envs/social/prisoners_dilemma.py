"""The iterated Prisoner's Dilemma, RUSP's test of direct reciprocity, as a PettingZoo ParallelEnv.

Facts from openai/multi-agent-emergence-environments (`randomized_uncertain_social_preferences/rusp/
env_ipd.py`, `wrappers_util.py`): two agents; action 0 cooperates, 1 defects; payoffs (own,
partner's) are CC (2, 2), CD (-2, 4), DC (4, -2), DD (0, 0); after each round the game ends with
probability 0.1 (a geometric number of rounds, 10 on average), which no agent can see coming;
each agent observes both agents' previous actions (-1 before the first round) and the round.

An agent's observation (3,): its own previous action, its partner's, and the round (0 first).
The last info of an episode carries `cooperation`: the share of the agent's actions that cooperated.
"""

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo.utils.env import ParallelEnv
from pydantic import Field

from rapid.platform.plugins import Strict

COOPERATE, DEFECT = 0, 1
AGENTS = ("player_0", "player_1")


class RepeatedGameConfig(Strict):
    """What every repeated social game has: a chance to end after each round, and a cap."""

    end_probability: float = Field(0.1, gt=0.0, le=1.0, description="chance that the game ends after each round")
    max_rounds: int = Field(1000, ge=1, description="rounds after which an episode is truncated all the same")

    def ends(self, rng: np.random.Generator, rounds: int) -> tuple[bool, bool]:
        """After `rounds` rounds: (the game ended by chance, it was cut at max_rounds instead)."""
        ended = bool(rng.random() < self.end_probability)
        return ended, not ended and rounds >= self.max_rounds


class PrisonersDilemmaConfig(RepeatedGameConfig):
    """The env_config of `prisoners_dilemma`: the original's payoffs and ending chance."""

    mutual_cooperation: float = Field(2.0, description="each agent's reward when both cooperate")
    sucker: float = Field(-2.0, description="the cooperator's reward when the partner defects")
    temptation: float = Field(4.0, description="the defector's reward when the partner cooperates")
    mutual_defection: float = Field(0.0, description="each agent's reward when both defect")

    def payoff(self) -> np.ndarray:
        """(2, 2): [own action, partner's action] -> own reward."""
        return np.array([[self.mutual_cooperation, self.sucker], [self.temptation, self.mutual_defection]])


class PrisonersDilemmaEnv(ParallelEnv):
    """Two players repeat the Prisoner's Dilemma until a coin with `end_probability` ends it."""

    metadata = {"name": "prisoners_dilemma_v0", "render_modes": []}

    def __init__(self, config: PrisonersDilemmaConfig | None = None) -> None:
        self.config = config = config or PrisonersDilemmaConfig()
        self.possible_agents = list(AGENTS)
        self.agents: list[str] = []
        self.payoff = config.payoff()
        self._observation_space = spaces.Box(np.array([-1, -1, 0], np.float32), np.array([1, 1, np.inf], np.float32))
        self._action_space = spaces.Discrete(2)
        self._rng = np.random.default_rng()
        self._previous = np.full(2, -1)
        self._round = 0
        self._cooperated = np.zeros(2)

    def observation_space(self, agent: str) -> spaces.Box:
        return self._observation_space

    def action_space(self, agent: str) -> spaces.Discrete:
        return self._action_space

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.agents = list(self.possible_agents)
        self._previous = np.full(2, -1)
        self._round = 0
        self._cooperated = np.zeros(2)
        return self._observe(), {agent: {} for agent in self.agents}

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        chosen = np.array([int(actions[agent]) for agent in self.possible_agents])
        rewards = self.payoff[chosen, chosen[::-1]]
        self._previous = chosen
        self._cooperated += chosen == COOPERATE
        self._round += 1
        ended, cut = self.config.ends(self._rng, self._round)
        infos: dict[str, dict] = {agent: {} for agent in self.possible_agents}
        if ended or cut:
            for i, agent in enumerate(self.possible_agents):
                infos[agent]["cooperation"] = self._cooperated[i] / self._round
            self.agents = []
        agents = self.possible_agents
        return (self._observe(), dict(zip(agents, rewards.tolist(), strict=True)), dict.fromkeys(agents, ended),
                dict.fromkeys(agents, cut), infos)

    def _observe(self) -> dict[str, np.ndarray]:
        own, partner = self._previous
        return {AGENTS[0]: np.array([own, partner, self._round], np.float32),
                AGENTS[1]: np.array([partner, own, self._round], np.float32)}

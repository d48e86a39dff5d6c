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
from pydantic import Field

from rapid.envs.social.repeated_game import RepeatedGame, RepeatedGameConfig

COOPERATE, DEFECT = 0, 1
AGENTS = ("player_0", "player_1")


class PrisonersDilemmaConfig(RepeatedGameConfig):
    """The env_config of `prisoners_dilemma`: the original's payoffs and ending chance."""

    mutual_cooperation: float = Field(2.0, description="each agent's reward when both cooperate")
    sucker: float = Field(-2.0, description="the cooperator's reward when the partner defects")
    temptation: float = Field(4.0, description="the defector's reward when the partner cooperates")
    mutual_defection: float = Field(0.0, description="each agent's reward when both defect")

    def payoff(self) -> np.ndarray:
        """(2, 2): [own action, partner's action] -> own reward."""
        return np.array([[self.mutual_cooperation, self.sucker], [self.temptation, self.mutual_defection]])


class PrisonersDilemmaEnv(RepeatedGame):
    """Two players repeat the Prisoner's Dilemma until a coin with `end_probability` ends it."""

    metadata = {"name": "prisoners_dilemma_v0", "render_modes": []}

    def __init__(self, config: PrisonersDilemmaConfig | None = None) -> None:
        config = config or PrisonersDilemmaConfig()
        observations = spaces.Box(np.array([-1, -1, 0], np.float32), np.array([1, 1, np.inf], np.float32))
        super().__init__(config, list(AGENTS), observations, spaces.Discrete(2))
        self.payoff = config.payoff()

    def new_episode(self) -> None:
        self.previous = np.full(2, -1)
        self.cooperated = np.zeros(2)

    def play(self, actions: dict[str, Any]) -> np.ndarray:
        chosen = np.array([int(actions[agent]) for agent in self.possible_agents])
        self.previous = chosen
        self.cooperated += chosen == COOPERATE
        return self.payoff[chosen, chosen[::-1]]

    def observe(self) -> dict[str, np.ndarray]:
        own, partner = self.previous
        return {AGENTS[0]: np.array([own, partner, self.rounds], np.float32),
                AGENTS[1]: np.array([partner, own, self.rounds], np.float32)}

    def summary(self) -> list[dict[str, float]]:
        return [{"cooperation": float(share)} for share in self.cooperated / self.rounds]

"""Prisoner's Buddy: agents choose partners; a choice returned pays both, an unreturned one costs its maker.

Facts from openai/multi-agent-emergence-environments (`randomized_uncertain_social_preferences/rusp/
env_prisoners_buddy.py`, `wrappers_util.py`): 5 agents; every step each agent names another agent
or sits out; every 5th step (steps 5, 10, ...) the choices count: two agents that chose each other
get +2 each; an agent whose choice was not returned gets -2 and the agent it chose +1 (on top of
anything else that agent gets); sitting out gets 0. The choices in between count for nothing but
are seen, so agents can signal. After each step the game ends with probability 0.02 (50 steps on
average). The original's class default for an unreturned choice is -1; its `make_env`, which
the paper's runs used, sets -2, and so does rapid.

Actions: MultiDiscrete([n - 1, 2]): whom (the others in the order i+1, i+2, ...) and whether to
sit out (1). An agent's observation, a vector: itself [sat out last step, the next step counts,
step, identity (16)], then each other agent j in that order [identity (16), I chose j last step,
j chose me last step, I chose j at the last counted step, j chose me then]. Identities are
random per agent and episode, so agents recognise each other only within an episode.

The last info of an episode carries `mutual_share` (share of agents in a mutual pair at the
counted steps), `pair_length` (counted steps a mutual pair lasted, on average; 0 without any)
and `team_changes` (times an agent's mutual partner, or having none, changed from one counted
step to the next).
"""

from typing import Any

import numpy as np
from gymnasium import spaces
from pydantic import Field

from rapid.envs.social.repeated_game import RepeatedGame, RepeatedGameConfig

IDENTITY_SIZE = 16
SELF_SIZE = 3 + IDENTITY_SIZE
OTHER_SIZE = IDENTITY_SIZE + 4
NOBODY = -1


class PrisonersBuddyConfig(RepeatedGameConfig):
    """The env_config of `prisoners_buddy`."""

    n_agents: int = Field(5, ge=3, le=16, description="agents choosing partners")
    choosing_period: int = Field(5, ge=1, description="every this many steps the choices count")
    mutual: float = Field(2.0, description="each agent's reward in a pair that chose each other")
    unreturned: float = Field(-2.0, description="reward of an agent whose choice was not returned")
    chosen: float = Field(1.0, description="reward of an agent per unreturned choice of it")
    end_probability: float = Field(0.02, gt=0.0, le=1.0, description="chance that the game ends after each step")


class PrisonersBuddyEnv(RepeatedGame):
    """Agents `agent_0` ... pick partners every step; every `choosing_period` steps the picks pay."""

    metadata = {"name": "prisoners_buddy_v0", "render_modes": []}

    def __init__(self, config: PrisonersBuddyConfig | None = None) -> None:
        config = config or PrisonersBuddyConfig()
        n = config.n_agents
        observations = spaces.Box(0.0, np.inf, (SELF_SIZE + OTHER_SIZE * (n - 1),), np.float32)
        super().__init__(config, [f"agent_{i}" for i in range(n)], observations, spaces.MultiDiscrete([n - 1, 2]))

    def new_episode(self) -> None:
        n = self.config.n_agents
        self.identity = self._rng.uniform(0.0, 1.0, (n, IDENTITY_SIZE))
        self.choice = np.full(n, NOBODY)  # whom each agent chose at the last step
        self.counted_choice = np.full(n, NOBODY)  # and at the last counted step
        self.partner = np.full(n, NOBODY)  # mutual partner at the last counted step
        self.counted_steps = 0
        self.mutual_agents = 0
        self.pair_runs: list[int] = []
        self._run = np.zeros(n, dtype=int)  # counted steps the present mutual pair has lasted
        self.team_changes = 0

    def play(self, actions: dict[str, Any]) -> np.ndarray:
        n = self.config.n_agents
        picked = np.array([np.asarray(actions[agent]).tolist() for agent in self.possible_agents]).reshape(n, 2)
        self.choice = np.where(picked[:, 1] == 1, NOBODY, self.others[np.arange(n), picked[:, 0]])
        return self._count() if self.rounds % self.config.choosing_period == 0 else np.zeros(n)

    def _count(self) -> np.ndarray:
        """The rewards of a counted step, and the pairs' bookkeeping."""
        config, n, choice = self.config, self.config.n_agents, self.choice
        chose = choice != NOBODY
        returned = chose & (choice[np.where(chose, choice, 0)] == np.arange(n))
        rewards = np.where(returned, config.mutual, np.where(chose, config.unreturned, 0.0))
        np.add.at(rewards, choice[chose & ~returned], config.chosen)
        partner = np.where(returned, choice, NOBODY)
        kept = returned & (partner == self.partner)
        if self.counted_steps:
            self.team_changes += int((partner != self.partner).sum())
        ended_runs = (self.partner != NOBODY) & ~kept
        self.pair_runs += self._run[ended_runs].tolist()
        self._run = np.where(kept, self._run + 1, np.where(returned, 1, 0))
        self.partner = partner
        self.counted_choice = choice.copy()
        self.counted_steps += 1
        self.mutual_agents += int(returned.sum())
        return rewards

    def summary(self) -> list[dict[str, float]]:
        runs = self.pair_runs + self._run[self.partner != NOBODY].tolist()
        n = self.config.n_agents
        found = {
            "mutual_share": self.mutual_agents / (n * self.counted_steps) if self.counted_steps else 0.0,
            "pair_length": float(np.mean(runs)) if runs else 0.0,
            "team_changes": float(self.team_changes),
        }
        return [dict(found) for _ in range(n)]

    def observe(self) -> dict[str, np.ndarray]:
        n, config = self.config.n_agents, self.config
        agents = np.arange(n)
        counts_next = (self.rounds + 1) % config.choosing_period == 0
        own = np.column_stack([self.choice == NOBODY, np.full(n, counts_next), np.full(n, self.rounds), self.identity])
        others = self.others
        i_chose = self.choice[:, None] == others
        chose_me = self.choice[others] == agents[:, None]
        i_chose_counted = self.counted_choice[:, None] == others
        chose_me_counted = self.counted_choice[others] == agents[:, None]
        per_other = np.concatenate([self.identity[others], np.stack([i_chose, chose_me, i_chose_counted, chose_me_counted], -1)],
                                   axis=-1)
        rows = np.concatenate([own, per_other.reshape(n, -1)], axis=1).astype(np.float32)
        return dict(zip(self.possible_agents, rows, strict=True))

"""Indirect reciprocity: the Prisoner's Dilemma among several agents, one pair at a time, the rest watching.

Facts from openai/multi-agent-emergence-environments (`randomized_uncertain_social_preferences/rusp/
env_indirect_reciprocity.py`, `wrappers_util.py`): 3 agents; before each round a pair is drawn
uniformly among all pairs, anew every round (the same pair may play again); the pair plays the
Prisoner's Dilemma (0 cooperates, 1 defects; CC 2/2, CD -2/4, DC 4/-2, DD 0/0), everyone else gets
0 and its action is ignored; after each round the game ends with probability 0.05 (20 rounds on
average). Everyone sees every agent's last action (-1 for an agent that did not play), who plays
next, and a random 16-number identity per agent, new each episode, by which agents can recognise
each other.

An agent's observation, a vector: itself [last action, played last round, plays now, round,
identity (16)], then each other agent in the order i+1, i+2, ... [last action, plays now,
identity (16)]. The last info of an episode carries `cooperation`: the share of the agent's
played rounds in which it cooperated (0 when it never played); and, for an agent that met the
last agent (the seat an evaluation gives a fixed partner), `cooperation_with_last`: the share of
those rounds in which it cooperated (the original's `frac_defects_against_last`, turned round).
"""

from typing import Any

import numpy as np
from gymnasium import spaces
from pydantic import Field

from rapid.envs.social.prisoners_dilemma import COOPERATE, PrisonersDilemmaConfig
from rapid.envs.social.repeated_game import RepeatedGame

IDENTITY_SIZE = 16
SELF_SIZE = 4 + IDENTITY_SIZE
OTHER_SIZE = 2 + IDENTITY_SIZE


class IndirectReciprocityConfig(PrisonersDilemmaConfig):
    """The env_config of `indirect_reciprocity`: the Prisoner's Dilemma's keys, more agents, a later end."""

    n_agents: int = Field(3, ge=3, le=16, description="agents; two of them play each round")
    end_probability: float = Field(0.05, gt=0.0, le=1.0, description="chance that the game ends after each round")


class IndirectReciprocityEnv(RepeatedGame):
    """Agents `agent_0` ... meet in random pairs; each pair's round is seen by all."""

    metadata = {"name": "indirect_reciprocity_v0", "render_modes": []}

    def __init__(self, config: IndirectReciprocityConfig | None = None) -> None:
        config = config or IndirectReciprocityConfig()
        n = config.n_agents
        observations = spaces.Box(-1.0, np.inf, (SELF_SIZE + OTHER_SIZE * (n - 1),), np.float32)
        super().__init__(config, [f"agent_{i}" for i in range(n)], observations, spaces.Discrete(2))
        self.payoff = config.payoff()

    def new_episode(self) -> None:
        n = self.config.n_agents
        self.identity = self._rng.uniform(0.0, 1.0, (n, IDENTITY_SIZE))
        self.last = np.full(n, -1)
        self.played = np.zeros(n, dtype=bool)
        self.plays_count = np.zeros(n)
        self.cooperations = np.zeros(n)
        self.rounds_with_last = np.zeros(n)
        self.cooperations_with_last = np.zeros(n)
        self._draw_pair()

    def play(self, actions: dict[str, Any]) -> np.ndarray:
        n = self.config.n_agents
        a, b = self.pair
        move_a, move_b = int(actions[self.possible_agents[a]]), int(actions[self.possible_agents[b]])
        rewards = np.zeros(n)
        rewards[a], rewards[b] = self.payoff[move_a, move_b], self.payoff[move_b, move_a]
        self.last = np.full(n, -1)
        self.last[a], self.last[b] = move_a, move_b
        self.played = self.plays_now
        self.plays_count[[a, b]] += 1
        self.cooperations[a] += move_a == COOPERATE
        self.cooperations[b] += move_b == COOPERATE
        if b == n - 1:  # the pair is sorted: b is the last agent when it plays
            self.rounds_with_last[a] += 1
            self.cooperations_with_last[a] += move_a == COOPERATE
        self._draw_pair()
        return rewards

    def summary(self) -> list[dict[str, float]]:
        share = np.divide(self.cooperations, self.plays_count, out=np.zeros_like(self.cooperations), where=self.plays_count > 0)
        found = [{"cooperation": float(value)} for value in share]
        for summary, met, cooperated in zip(found, self.rounds_with_last, self.cooperations_with_last, strict=True):
            if met:
                summary["cooperation_with_last"] = float(cooperated / met)
        return found

    def _draw_pair(self) -> None:
        self.pair = tuple(sorted(self._rng.choice(self.config.n_agents, 2, replace=False).tolist()))
        self.plays_now = np.zeros(self.config.n_agents, dtype=bool)
        self.plays_now[list(self.pair)] = True

    def observe(self) -> dict[str, np.ndarray]:
        n = self.config.n_agents
        own = np.column_stack([self.last, self.played, self.plays_now, np.full(n, self.rounds), self.identity])
        per_agent = np.column_stack([self.last, self.plays_now, self.identity])
        rows = np.concatenate([own, per_agent[self.others].reshape(n, -1)], axis=1).astype(np.float32)
        return dict(zip(self.possible_agents, rows, strict=True))

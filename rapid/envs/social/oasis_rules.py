"""Oasis's rules of survival, in plain numpy: health, food, attacks, death and respawn (no MuJoCo here).

Facts from openai/multi-agent-emergence-environments (`randomized_uncertain_social_preferences/rusp/
env_oasis.py`, `mae_envs/wrappers/food.py`):
- an agent starts with 20 health, loses 1 each step and never holds more than 20;
- eating (the option "eat", within 0.4 m of a food item after the step's physics) gives one unit of
  food per item a step, split equally among its eaters, each unit worth U[2.1, 2.7] health (drawn
  per episode); food never runs out (it regrows at once), so alone an agent gains about 0.6-1.7 a
  step, two sharing barely hold, three sharing starve;
- attacking (the option "attack" and a target) takes 5 health from the target when it is within
  0.7 m and was in the attacker's sight at the last observation; an attacked agent cannot eat that step;
- every living agent earns +1 a step; an agent whose health falls to 0 or below gets -100, and at
  the next step reappears just outside the floor with full health, frozen (its actions ignored, no
  +1) for 100 steps. The episode goes on.
The env hands these rules a frozen agent's choices already replaced by doing nothing.
"""

from dataclasses import dataclass

import numpy as np

ATTACK, EAT, NOTHING = 0, 1, 2
OPTIONS = ("attack", "eat", "nothing")
METRIC_KEYS = ("survival_time", "deaths", "attacks", "attacked", "eating")  # each agent's, at an episode's end


@dataclass(frozen=True)
class SurvivalRules:
    """The numbers of the game; the defaults are the original's."""

    max_health: float = 20.0
    health_per_step: float = 1.0
    food_health: tuple[float, float] = (2.1, 2.7)
    attack_damage: float = 5.0
    attack_range: float = 0.7
    life_reward: float = 1.0
    death_penalty: float = 100.0
    freeze_steps: int = 100


class Survival:
    """Every agent's health, death and freeze, and the episode's figures.

    `others` (n, n - 1) lists for each agent the others in the order it observes and targets them.
    A step goes: `respawn` (who reappears now), `attacks` (from the last positions and sight),
    then, after the physics, `settle` with what each agent ate.
    """

    def __init__(self, rules: SurvivalRules, others: np.ndarray) -> None:
        self.rules, self.others, self.n = rules, others, len(others)

    def reset(self, rng: np.random.Generator) -> None:
        self.health = np.full(self.n, self.rules.max_health)
        self.since_death = np.full(self.n, np.inf)
        self.dead = np.zeros(self.n, dtype=bool)
        self.health_per_food = float(rng.uniform(*self.rules.food_health))
        self.attacked_me = np.zeros((self.n, self.n), dtype=bool)  # [i, j]: j attacked i at the last step
        self.choice = np.full(self.n, NOTHING)
        self.deaths = np.zeros(self.n)
        self.attacks_made = np.zeros(self.n)
        self.attacks_taken = np.zeros(self.n)
        self.eaten_steps = np.zeros(self.n)
        self.alive_steps = np.zeros(self.n)

    def respawn(self) -> np.ndarray:
        """Start a step: (n,) bool, the agents that died at the last step and reappear now. Sets `dead`:
        who is out of play (reappearing or frozen) for this step."""
        rules = self.rules
        self.dead = (self.health <= 0) | (self.since_death < rules.freeze_steps)
        back = self.health <= 0
        self.health[back] = rules.max_health
        self.since_death[back] = 0
        self.deaths += back
        return back

    def attacks(self, option: np.ndarray, target: np.ndarray, positions: np.ndarray, seen: np.ndarray) -> np.ndarray:
        """(n, n) bool, [i, j]: i attacks j this step. `option` and `target` (index into `others`) are
        the agents' choices, `positions` (n, 3) and `seen` (n, n) their places and sight at the last observation."""
        attacker = np.flatnonzero(option == ATTACK)
        victim = self.others[attacker, target[attacker]]
        near = np.linalg.norm(positions[attacker] - positions[victim], axis=1) < self.rules.attack_range
        hit = near & seen[attacker, victim]
        matrix = np.zeros((self.n, self.n), dtype=bool)
        matrix[attacker[hit], victim[hit]] = True
        return matrix

    def eaters(self, option: np.ndarray, attack: np.ndarray) -> np.ndarray:
        """(n,) bool: who tries to eat this step: chose to, and nobody attacks it."""
        return (option == EAT) & ~attack.any(axis=0)

    def settle(self, attack: np.ndarray, eaten: np.ndarray, option: np.ndarray) -> np.ndarray:
        """End the step: (n,) rewards, from the attacks and the units of food `eaten` by each agent."""
        rules, alive = self.rules, ~self.dead
        delta = eaten * self.health_per_food - rules.health_per_step - rules.attack_damage * attack.sum(axis=0)
        self.health[alive] = np.minimum(self.health[alive] + delta[alive], rules.max_health)
        self.since_death += 1
        rewards = np.where(alive, rules.life_reward, 0.0)
        rewards[self.health <= 0] -= rules.death_penalty
        self.attacked_me = attack.T.copy()
        self.choice = option.copy()
        self.attacks_made += attack.sum(axis=1)
        self.attacks_taken += attack.sum(axis=0)
        self.eaten_steps += eaten > 0
        self.alive_steps += alive
        return rewards

    def time_to_alive(self) -> np.ndarray:
        """(n,) in [0, 1]: the share of its freeze a dead agent has served; 1 for a living one."""
        return np.minimum(1.0, self.since_death / self.rules.freeze_steps)

    def summary(self) -> list[dict[str, float]]:
        """Per agent, at the episode's end: `survival_time` (steps in play per life: the lives end at a
        death or at the episode's end), `deaths`, `attacks` it landed and times it was `attacked`
        (a hit on a frozen agent counts, as in the original, though it does no harm), and `eating`
        (the share of its steps in play in which it ate)."""
        died = self.deaths + (self.health <= 0)  # a death at the last step has had no respawn yet
        lives = self.deaths + 1
        return [{"survival_time": float(alive / life), "deaths": float(deaths), "attacks": float(made),
                 "attacked": float(taken), "eating": float(eaten / max(alive, 1))}
                for alive, life, deaths, made, taken, eaten in zip(self.alive_steps, lives, died, self.attacks_made,
                                                                   self.attacks_taken, self.eaten_steps, strict=True)]

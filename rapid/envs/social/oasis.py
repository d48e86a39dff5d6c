"""Oasis (Baker 2020): agents on a small floor with one food source that feeds one agent well, two
barely and three not at all; they may attack each other. Built on hide-and-seek's engine (its scene,
world and perception) with the survival rules of oasis_rules.py.

Facts from openai/multi-agent-emergence-environments (`randomized_uncertain_social_preferences/rusp/
env_oasis.py`): 3 agents, the hide-and-seek agents and physics (15 substeps, movement in 11 bins),
no walls, boxes, ramps or lidar; the square floor's side drawn U[1.5, 6] m each episode; one food
item; agents and food placed uniformly; an agent observes every other agent and the food, with
the others masked by the vision cone and line of sight; a random 16-d identity per agent per
episode; after each step the game ends with probability 0.001 (1000 steps on average).
Where rapid differs: eating is judged by the distance in the floor's plane; a reappearing agent
also loses its velocity; a dead agent's choices are ignored rather than masked in the policy
gradient, and it shows as having chosen nothing (the original shows "eat", its no-op option);
the last choice starts as "nothing" (the original: all zeros); each agent lists the others in
the order i+1, i+2, ... (the original: i-1, i-2, ...); food lies on a free cell inside the
floor's rim, never under an agent; and the food's health (always full, since it regrows at once)
is not observed.

Actions, MultiDiscrete(ACTION_NVEC): x force, y force and z torque bins as in hide-and-seek, then the
option (0 attack, 1 eat, 2 nothing) and the target of an attack (an index into the other agents,
in the order the agent observes them). Observations, a Dict: `self` (SELF_FEATURES), `agents` (the
others, AGENT_FEATURES) with `agents_visible` and `agents_present`, `food` (x, y, z of each item)
with `food_visible` and `food_present` (always 1): the layout entity_attention reads.
"""

from typing import Any

import numpy as np
from gymnasium import spaces
from pydantic import Field, model_validator

from rapid.envs.hide_and_seek.config import TopCameraSettings
from rapid.envs.hide_and_seek.contract import MOVE_BINS
from rapid.envs.hide_and_seek.layouts import CELL, Item, footprint, open_floor, place, regions
from rapid.envs.hide_and_seek.perception import Perception
from rapid.envs.hide_and_seek.scene import AGENT_RADIUS, SUBSTEPS, TIMESTEP, SceneSpec
from rapid.envs.hide_and_seek.world import TopCamera, World, WorldEnv
from rapid.envs.social.oasis_rules import NOTHING, OPTIONS, Survival, SurvivalRules
from rapid.envs.social.repeated_game import RepeatedGame, RepeatedGameConfig
from rapid.platform.schema_errors import KeyProblem

ACTION_NVEC = (MOVE_BINS, MOVE_BINS, MOVE_BINS, len(OPTIONS))  # then n_agents - 1 targets
KINEMATICS = ("x", "y", "z", "vx", "vy", "vz", "sin_yaw", "cos_yaw")
# health is raw (max_health at full); time_to_alive is 1 in play; chose_*: the last step's option, one-hot.
STATE = ("health", "dead", "time_to_alive", *(f"chose_{option}" for option in OPTIONS))
RESPAWN_BAND = 1.0  # m: a reappearing agent lands this far outside the floor at most
PLACEMENT_TRIES = 100
FOOD_Z = 0.01
CHOICE_ONE_HOT = np.eye(len(OPTIONS))
AGENT = Item((AGENT_RADIUS, AGENT_RADIUS), "anywhere")
FOOD = Item((CELL / 4, CELL / 4), "anywhere")  # a point: it takes one cell of the placement grid
MAX_FILL = 0.5  # agents and food may take at most this share of the smallest floor's free cells


def self_features(identity_size: int) -> tuple[str, ...]:
    """The names of `self`'s entries; time is the steps played times end_probability (1: an average game's length)."""
    return (*KINEMATICS, *(f"identity_{k}" for k in range(identity_size)), *STATE, "n_attacked_me", "time")


def agent_features(identity_size: int) -> tuple[str, ...]:
    """The names of each row of `agents`: attacked_me is 1 when that agent attacked the observer at the last step."""
    return (*KINEMATICS, *(f"identity_{k}" for k in range(identity_size)), *STATE, "attacked_me", "n_attacked_me")


def _box(*shape: int, low: float = -np.inf, high: float = np.inf) -> spaces.Box:
    return spaces.Box(low, high, shape, np.float32)


class OasisConfig(RepeatedGameConfig, TopCameraSettings):
    """The env_config of `oasis`; the defaults are the original's."""

    end_probability: float = Field(0.001, gt=0.0, le=1.0, description="chance that the game ends after each step")
    max_rounds: int = Field(10_000, ge=1, description="steps after which an episode is truncated all the same")
    n_agents: int = Field(3, ge=2, le=8, description="agents, named agent_0, agent_1, ...")
    n_food: int = Field(1, ge=1, le=4, description="food items; each feeds one unit a step, split among its eaters")
    floor_size: list[float] = Field([1.5, 6.0], min_length=2, max_length=2,
                                    description="[low, high] of the floor's side (m), drawn each episode")
    food_radius: float = Field(0.4, gt=0.0, description="how near (m) an agent must be to a food item to eat it")
    food_health: list[float] = Field([2.1, 2.7], min_length=2, max_length=2,
                                     description="[low, high] of the health one unit of food gives, drawn each episode")
    max_health: float = Field(20.0, gt=0.0, description="health at the start, after a respawn, and at most")
    health_per_step: float = Field(1.0, ge=0.0, description="health every agent loses each step")
    attack_damage: float = Field(5.0, ge=0.0, description="health an attack takes")
    attack_range: float = Field(0.7, ge=0.0, description="the farthest (m) a target may be to be hit")
    life_reward: float = Field(1.0, ge=0.0, description="reward of every step an agent is in play")
    death_penalty: float = Field(100.0, ge=0.0, description="reward lost when an agent's health runs out")
    freeze_steps: int = Field(100, ge=1, description="steps a dead agent waits, outside the floor, before it plays again")
    identity_size: int = Field(16, ge=0, le=64, description="size of each agent's random identity vector, drawn each episode")
    seed: int | None = Field(None, description="seed of the first episode (reset(seed=...) overrides it)")

    @model_validator(mode="after")
    def _ranges(self) -> "OasisConfig":
        for key, low_bound in (("floor_size", 1.0), ("food_health", 0.0)):
            low, high = getattr(self, key)
            if not low_bound <= low <= high:
                raise KeyProblem(key, f"[{low}, {high}] is not a range with {low_bound} <= low <= high")
        if self.floor_size[1] > 20.0:
            raise KeyProblem("floor_size", f"{self.floor_size[1]} m is larger than the 20 m this arena draws")
        smallest = self.floor_size[0]
        grid = round(smallest / CELL)
        free = int(regions(grid)["anywhere"].sum())
        need = sum(int(np.prod(footprint(item.half_xy, smallest / grid))) for item in self.placement())
        if need > MAX_FILL * free:
            raise KeyProblem("n_agents", f"{self.n_agents} agents and {self.n_food} food items need {need} of the {free} "
                                         f"free cells of the smallest floor ({smallest} m), more than {MAX_FILL:.0%}: "
                                         "use fewer or a larger floor_size")
        return self

    def placement(self) -> list[Item]:
        """What is placed at every reset: the agents, then the food."""
        return [AGENT] * self.n_agents + [FOOD] * self.n_food

    def rules(self) -> SurvivalRules:
        return SurvivalRules(self.max_health, self.health_per_step, tuple(self.food_health), self.attack_damage,
                             self.attack_range, self.life_reward, self.death_penalty, self.freeze_steps)


class OasisEnv(WorldEnv, RepeatedGame):
    """Agents who must eat to live, and may fight for the food; see the module docstring for the spaces.

    `model` and `data` are the scene's MjModel and MjData (rapid's physics guard watches them).
    """

    metadata = {"name": "oasis_v0", "render_modes": ["rgb_array"], "render_fps": round(1 / (TIMESTEP * SUBSTEPS))}

    def __init__(self, config: OasisConfig | None = None) -> None:
        config = config or OasisConfig()
        n, k, food = config.n_agents, config.identity_size, config.n_food
        observations = spaces.Dict({
            "self": _box(len(self_features(k))), "agents": _box(n - 1, len(agent_features(k))),
            "agents_visible": _box(n - 1, low=0.0, high=1.0), "agents_present": _box(n - 1, low=0.0, high=1.0),
            "food": _box(food, 3), "food_visible": _box(food, low=0.0, high=1.0), "food_present": _box(food, low=0.0, high=1.0),
        })
        super().__init__(config, [f"agent_{i}" for i in range(n)], observations, spaces.MultiDiscrete([*ACTION_NVEC, n - 1]))
        self.config: OasisConfig = config
        self._rng = np.random.default_rng(config.seed)
        self.render_mode = config.render_mode
        arena = config.floor_size[1] + 2 * RESPAWN_BAND
        spec = SceneSpec(teams=(0,) * n, agent_names=tuple(self.possible_agents), box_halves=(), n_ramps=0, n_walls=0,
                         floor_size=arena, bounds_size=arena + 2.0, render_size=(config.width, config.height),
                         n_markers=food)
        self.world = World(spec)
        self.perception = Perception(self.world, 0, 1.0)
        self.survival = Survival(config.rules(), self.others)
        self._camera = TopCamera(self.world, config.width, config.height)
        self._noop = np.array([MOVE_BINS // 2] * 3 + [NOTHING, 0])
        # Masks that never change, handed to every agent at every step.
        self._constant = {key: np.ones(observations[key].shape, np.float32)
                          for key in ("agents_present", "food_visible", "food_present")}
        for value in self._constant.values():
            value.flags.writeable = False

    def new_episode(self) -> None:
        """A floor size, the agents and food placed on it, full health, fresh identities."""
        rng, n = self._rng, self.config.n_agents
        self.floor_size = float(rng.uniform(*self.config.floor_size))
        for _ in range(PLACEMENT_TRIES):
            poses = place(open_floor(self.floor_size), self.config.placement(), rng)
            if poses is not None:
                break
        else:
            raise ValueError(f"no room for {n} agents and {self.config.n_food} food items on a {self.floor_size:.2f} m "
                             f"floor in {PLACEMENT_TRIES} tries")
        self.world.reset(np.zeros((0, 6)), poses[:n])
        self.food = np.column_stack([poses[n:, :2], np.full(self.config.n_food, FOOD_Z)])
        self._food_observed = self.food.astype(np.float32)
        self._food_observed.flags.writeable = False  # handed to every agent at every step
        self.world.set_markers(self.food)
        self.world.refresh()
        self.survival.reset(rng)
        self.identity = rng.uniform(size=(n, self.config.identity_size)).astype(np.float32)

    def play(self, actions: dict[str, Any]) -> np.ndarray:
        """Respawns, attacks by the last observation's places and sight, the physics, then food and health."""
        survival = self.survival
        chosen = np.array([actions.get(agent, self._noop) for agent in self.possible_agents], dtype=np.int64)
        back = survival.respawn()
        if back.any():
            self._outside(back)
        chosen[survival.dead] = self._noop
        option = chosen[:, 3]
        attack = survival.attacks(option, chosen[:, 4], self._positions, self._seen)
        eaters = survival.eaters(option, attack)
        self.world.step(chosen[:, :3])
        return survival.settle(attack, self._eaten(eaters), option)

    def summary(self) -> list[dict[str, float]]:
        return self.survival.summary()

    def _outside(self, who: np.ndarray) -> None:
        """Put the agents `who` (n,) bool just outside the floor, at rest (the original's respawn)."""
        half, k = self.floor_size / 2, int(who.sum())
        offset = self._rng.uniform(0.0, RESPAWN_BAND, (k, 2))
        side = self._rng.integers(2, size=(k, 2)) * 2 - 1
        self.world.qpos[: self.config.n_agents][who, :2] = side * (half + offset)
        self.world.qvel[: self.config.n_agents][who] = 0.0

    def _eaten(self, eaters: np.ndarray) -> np.ndarray:
        """(n,) units of food each agent eats: every item's unit split among the eaters within reach of it."""
        near = np.linalg.norm(self.world.qpos[: self.config.n_agents, None, :2] - self.food[None, :, :2], axis=-1)
        eat = (near < self.config.food_radius) & eaters[:, None]
        return (eat / np.maximum(eat.sum(axis=0), 1)).sum(axis=1)

    def observe(self) -> dict[str, dict[str, np.ndarray]]:
        """Every agent's observation; keeps the positions and sight that the next step's attacks go by.
        After writing qpos directly (tests, scripted scenes), call `world.refresh()` first."""
        world, survival, n = self.world, self.survival, self.config.n_agents
        self._seen = self.perception.sense()[0]
        self._positions = world.qpos[:n, :3].copy()
        kinematics = np.concatenate([world.qpos[:n, :3], world.qvel[:n, :3], world.heading[:n]], axis=1)
        state = np.column_stack([survival.health, survival.dead, survival.time_to_alive(),
                                 CHOICE_ONE_HOT[survival.choice]])
        n_attacked = survival.attacked_me.sum(axis=1, keepdims=True)
        common = np.concatenate([kinematics, self.identity, state], axis=1, dtype=np.float32)
        own = np.concatenate([common, n_attacked, np.full((n, 1), self.rounds * self.config.end_probability)],
                             axis=1, dtype=np.float32)
        others, rows = self.others, np.arange(n)[:, None]
        # [i, k]: did the k-th other agent of i attack i; how many attacked that agent.
        agents = np.concatenate([common[others], survival.attacked_me[rows, others][..., None],
                                 n_attacked[others]], axis=2, dtype=np.float32)
        visible = self._seen[rows, others].astype(np.float32)
        food = self._food_observed
        return {agent: {"self": own[i], "agents": agents[i], "agents_visible": visible[i], "food": food, **self._constant}
                for i, agent in enumerate(self.possible_agents)}


"""Hide-and-seek (Baker et al. 2019) as a PettingZoo ParallelEnv: the scene, the world and the game put together.

A step, in order: frozen agents' actions become no-ops; grabs and locks act on what each agent saw
at the last step (the original masks them so); forces and torques drive 15 physics substeps; then
sight, lidar, rewards and observations are read from the new state. Every agent acts at every step
until the horizon truncates them all. Infos carry `hidden` and `prep` each step, and the episode's
emergence metrics (`rules.EpisodeStats`) at the last.
"""

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo.utils.env import ParallelEnv

from rapid.envs.hide_and_seek.config import HideAndSeekConfig
from rapid.envs.hide_and_seek.contract import ACTION_NVEC, NOOP_ACTION
from rapid.envs.hide_and_seek.layouts import MAX_WALL_PIECES, make_layout, place
from rapid.envs.hide_and_seek.manipulation import Manipulation
from rapid.envs.hide_and_seek.observations import ObservationBuilder, observation_space
from rapid.envs.hide_and_seek.perception import Perception
from rapid.envs.hide_and_seek.rules import EpisodeStats, HideAndSeekRules
from rapid.envs.hide_and_seek.scene import SUBSTEPS, TIMESTEP, SceneSpec
from rapid.envs.hide_and_seek.world import TopCamera, World, WorldEnv

# Layouts drawn at a reset before giving up on placing everything (the config's fill check makes
# a failure rare; a new layout usually has room).
PLACEMENT_TRIES = 100

Observation = dict[str, np.ndarray]


class HideAndSeekEnv(WorldEnv, ParallelEnv):
    """Hiders and seekers in a MuJoCo arena of walls, boxes and ramps; see `contract.py` for the spaces.

    `model` and `data` are the scene's MjModel and MjData (rapid's physics guard watches them);
    `world`, `perception` and `hands` are the engine, `rules` the game.
    """

    metadata = {"name": "hide_and_seek_v0", "render_modes": ["rgb_array"], "render_fps": round(1 / (TIMESTEP * SUBSTEPS))}

    def __init__(self, config: HideAndSeekConfig | None = None) -> None:
        self.config = config = config or HideAndSeekConfig()
        self.rules = HideAndSeekRules(config.n_hiders, config.n_seekers, config.horizon, config.prep_fraction, config.bounds_size)
        self.possible_agents = list(self.rules.agent_names)
        self.agents: list[str] = []
        self.render_mode = config.render_mode
        spec = SceneSpec(
            teams=tuple(int(team) for team in self.rules.teams),
            agent_names=self.rules.agent_names,
            box_halves=tuple(config.box_halves()),
            n_ramps=config.n_ramps,
            n_walls=MAX_WALL_PIECES,
            floor_size=config.floor_size,
            bounds_size=config.bounds_size,
            render_size=(config.width, config.height),
        )
        self.world = World(spec)
        self.perception = Perception(self.world, config.n_lidar, config.lidar_range)
        self.hands = Manipulation(self.world)
        self.builder = ObservationBuilder(self.rules.teams, config.n_boxes, config.n_ramps, 2 * self.world.object_halves)
        self.stats = EpisodeStats(self.rules, config.n_boxes, config.n_ramps)
        self._placement = config.placement()
        self._observation_space = observation_space(self.builder.counts, config.n_lidar)
        self._action_space = spaces.MultiDiscrete(ACTION_NVEC)
        self._rng = np.random.default_rng(config.seed)
        self._camera = TopCamera(self.world, config.width, config.height)
        self._t = 0
        self._seen = np.zeros((self.world.n_agents, self.world.n_bodies), dtype=bool)

    def observation_space(self, agent: str) -> spaces.Dict:
        """The same object for every agent and call (PettingZoo's API test asks for it)."""
        return self._observation_space

    def action_space(self, agent: str) -> spaces.MultiDiscrete:
        return self._action_space

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict[str, Observation], dict[str, dict]]:
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        config = self.config
        for _ in range(PLACEMENT_TRIES):
            layout = make_layout(config.layout, config.floor_size, self._rng, config.door_dropout, config.outer_wall_prob)
            poses = place(layout, self._placement, self._rng)
            if poses is not None:
                break
        else:
            raise ValueError(f"no room for {len(self._placement)} agents and objects on a {config.floor_size} m floor "
                             f"in {PLACEMENT_TRIES} layouts; use fewer or a larger floor_size")
        self.world.reset(layout.wall_boxes(), poses)
        self.hands.reset()
        self._t = 0
        self.agents = list(self.possible_agents)
        self.stats.reset(self.world.qpos[self.world.n_agents :, :3])
        return self._observe(), {agent: {} for agent in self.agents}

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        world, hands, rules, t = self.world, self.hands, self.rules, self._t
        n = world.n_agents
        chosen = np.array([actions.get(agent, NOOP_ACTION) for agent in self.possible_agents], dtype=np.int64)
        if rules.in_prep(t):
            chosen[rules.frozen] = NOOP_ACTION
        hands.act(chosen[:, 3] == 1, chosen[:, 4] == 1, self._seen[:, n:], rules.teams, self._rng)
        world.step(chosen[:, :3])
        observations = self._observe()
        rewards, hidden = rules.score(self._seen[:, :n], world.qpos[:n, :2], t)
        self.stats.update(t, hands.grabbed, world.qpos[:n, 2], world.qpos[n:, :3], hidden)
        self._t += 1
        over = self._t >= rules.horizon
        info = {"hidden": float(hidden), "prep": float(rules.in_prep(t))}
        if over:
            info.update(self.stats.summary(world.qpos[n:, :3], hands.lock_team))
        agents = self.possible_agents
        self.agents = [] if over else list(agents)
        return (
            observations,
            dict(zip(agents, rewards.tolist(), strict=True)),
            dict.fromkeys(agents, False),
            dict.fromkeys(agents, over),
            {agent: dict(info) for agent in agents},
        )

    def _observe(self) -> dict[str, Observation]:
        """Sight and lidar of the present state (kept for the next step's grabs and locks), as observations."""
        world = self.world
        self._seen, lidar = self.perception.sense()
        locks = self.hands.lock_team if self.hands.n_locked else None
        rows = self.builder.build(world.qpos, world.qvel, world.heading, self._seen, lidar, locks,
                                  self.rules.in_prep(self._t), self._t / self.rules.horizon)
        return dict(zip(self.possible_agents, rows, strict=True))

    def visibility(self) -> np.ndarray:
        """(n_agents, n_bodies) bool: who sees which agent, box and ramp (in body order) in the present
        qpos, after it was written directly; the next step's grabs and locks go by it."""
        self.world.refresh()
        self._seen = self.perception.sense()[0]
        return self._seen


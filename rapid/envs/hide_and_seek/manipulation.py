"""Grab and lock: what agents do to boxes and ramps besides pushing them.

Facts from openai/multi-agent-emergence-environments (`wrappers/manipulation.py`, `util/geometry.py`,
`envs/hide_and_seek.py`, `examples/hide_and_seek_full.jsonnet`): both act on objects whose box is
within 0.25 m of the agent's centre (lock_grab_radius) and that the agent saw at the last step; grab
welds the agent to the nearest such object at their present relative pose, for as long as the agent
keeps pressing it (GrabObjWrapper, GrabClosestWrapper); lock freezes every joint of an object at its
present value with joint limits; a lock is the locking team's: an agent of that team in reach that
does not press lock unlocks it, the other team cannot (LockObjWrapper, 'all_lock_team_specific').
"""

import math

import numpy as np

from rapid.envs.hide_and_seek.world import World

REACH = 0.25
LOCK_TINT = np.array([[0.3, 0.3, 1.0, 1.0], [1.0, 0.3, 0.3, 1.0]])  # an object locked by team 0, 1
# Locked joints hold with a stiffer limit than MuJoCo's default (0.02 s), so a push moves a locked
# object millimetres, not centimetres; twice the timestep is as stiff as MuJoCo stays stable.
LOCK_SOLREF = (0.01, 1.0)


class Manipulation:
    """Grabs and locks in a world: `grabbed` (n_agents,) is each agent's held object (-1: none),
    `lock_team` (n_objects,) each object's locking team (-1: free)."""

    def __init__(self, world: World) -> None:
        self.world = world
        model = world.model
        self.grab_eqs = [model.equality(f"{name}:grab").id for name in world.spec.agent_names] if world.n_objects else []
        model.jnt_solref[world.object_joints.ravel()] = LOCK_SOLREF
        self.object_rgba = model.geom_rgba[world.body_geoms[world.n_agents :]].copy()
        self._agent_rows = np.arange(world.n_agents)
        self._turn = np.zeros((world.n_objects, 3, 3))
        self._turn[:, 2, 2] = 1.0
        self.reset()

    def reset(self) -> None:
        """Nothing held, nothing locked (MuJoCo's reset already turned the welds off)."""
        world = self.world
        world.model.jnt_limited[world.object_joints.ravel()] = False
        world.model.geom_rgba[world.body_geoms[world.n_agents :]] = self.object_rgba
        self.grabbed = np.full(world.n_agents, -1)
        self.lock_team = np.full(world.n_objects, -1)
        self.n_locked = 0

    def reach_squared(self) -> np.ndarray:
        """(n_agents, n_objects): squared distance (m^2) from each agent's centre to each object's box."""
        world, n = self.world, self.world.n_agents
        rel = world.qpos[None, :n, :3] - world.qpos[n:, None, :3]
        turn, (sin, cos) = self._turn, world.heading[n:].T
        turn[:, 0, 0] = turn[:, 1, 1] = cos
        turn[:, 1, 0], turn[:, 0, 1] = sin, -sin
        outside = np.maximum(np.abs(rel @ turn) - world.object_halves[:, None, :], 0.0)
        return np.square(outside).sum(axis=2).T

    def act(self, grab: np.ndarray, lock: np.ndarray, seen_objects: np.ndarray, teams: np.ndarray,
            rng: np.random.Generator) -> None:
        """This step's grabs and locks, (n_agents,) bool each, on objects in reach that each agent saw
        at the last step, (n_agents, n_objects) bool."""
        if not self.world.n_objects:
            return
        pressing = grab | lock
        if not (self.n_locked or (self.grabbed >= 0).any() or seen_objects[pressing].any()):
            return
        distance = self.reach_squared()
        near = seen_objects & (distance <= REACH**2)
        anything_near = near.any()  # if not, no lock changes and every grab lets go
        if anything_near or (self.grabbed >= 0).any():
            self._grab(grab, near, distance)
        if anything_near:
            self._lock(lock, near, teams, rng)

    def _grab(self, want: np.ndarray, near: np.ndarray, distance: np.ndarray) -> None:
        candidates = np.where(near & want[:, None], distance, np.inf)
        nearest = candidates.argmin(axis=1)
        target = np.where(candidates[self._agent_rows, nearest] < np.inf, nearest, -1)
        for agent in np.flatnonzero(target != self.grabbed).tolist():
            self.world.data.eq_active[self.grab_eqs[agent]] = target[agent] >= 0
            if target[agent] >= 0:
                self._weld(agent, int(target[agent]))
        self.grabbed = target

    def _weld(self, agent: int, obj: int) -> None:
        """Point the agent's weld at the object, holding their present relative pose (MuJoCo's weld
        data: the anchor on body2, then body2's position and orientation in body1's frame)."""
        world = self.world
        body = world.n_agents + obj
        ax, ay, az, ayaw = world.qpos[agent].tolist()
        bx, by, bz, byaw = world.qpos[body].tolist()
        cos, sin, half_turn = math.cos(ayaw), math.sin(ayaw), (byaw - ayaw) / 2
        eq = self.grab_eqs[agent]
        world.model.eq_obj2id[eq] = world.body_ids[body]
        world.model.eq_data[eq, :10] = (0.0, 0.0, 0.0, cos * (bx - ax) + sin * (by - ay), cos * (by - ay) - sin * (bx - ax),
                                        bz - az, math.cos(half_turn), 0.0, 0.0, math.sin(half_turn))

    def _lock(self, want: np.ndarray, near: np.ndarray, teams: np.ndarray, rng: np.random.Generator) -> None:
        """Lock free objects that an agent in reach wants locked (for its team; a random one of them when
        several do); unlock those that an agent of the locking team in reach does not want locked."""
        free = self.lock_team < 0
        if self.n_locked:
            keepers = near & ~want[:, None] & (teams[:, None] == self.lock_team)
            for obj in np.flatnonzero(keepers.any(axis=0)).tolist():
                self._set_lock(obj, -1)
        pressing = near & want[:, None]
        for obj in np.flatnonzero(pressing.any(axis=0) & free).tolist():
            lockers = np.flatnonzero(pressing[:, obj])
            self._set_lock(obj, int(teams[lockers[rng.integers(len(lockers))]]))

    def _set_lock(self, obj: int, team: int) -> None:
        """Freeze (team >= 0) or free (-1) every joint of an object; a frozen joint's range is its value now."""
        world = self.world
        joints = world.object_joints[obj]
        if team >= 0:
            world.model.jnt_range[joints] = world.data.qpos[joints, None]
        world.model.jnt_limited[joints] = team >= 0
        world.model.geom_rgba[world.body_geoms[world.n_agents + obj]] = LOCK_TINT[team] if team >= 0 else self.object_rgba[obj]
        self.n_locked += int(team >= 0) - int(self.lock_team[obj] >= 0)
        self.lock_team[obj] = team

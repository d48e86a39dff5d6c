"""Every agent's observation (the contract in `contract.py`), built for all agents at once with numpy.

Each step makes one fresh array per changing key for all agents and hands each agent its row: RLlib
keeps the observations it is given, and nothing here writes to an array after returning it. What
never changes (team one-hots and object sizes) is laid out once in templates that each step copies;
the presence masks and the rows of an absent entity type never change at all, so every step hands
out the same read-only arrays.
"""

import numpy as np
from gymnasium import spaces

from rapid.envs.hide_and_seek.contract import (
    ENTITY_TYPES,
    FEATURE_SIZES,
    LIDAR_KEY,
    SELF_KEY,
    SELF_SIZE,
    present_key,
    visible_key,
)

KINEMATIC_SIZE = 8  # x, y, z, vx, vy, vz, sin_yaw, cos_yaw
OBJECT_SIZE = FEATURE_SIZES["boxes"]


def observation_space(counts: dict[str, int], n_lidar: int) -> spaces.Dict:
    """One agent's observation space; `counts` are the N_max rows of each entity type (at least 1)."""
    found: dict[str, spaces.Space] = {SELF_KEY: spaces.Box(-np.inf, np.inf, (SELF_SIZE,), np.float32)}
    for kind in ENTITY_TYPES:
        rows = counts[kind]
        found[kind] = spaces.Box(-np.inf, np.inf, (rows, FEATURE_SIZES[kind]), np.float32)
        found[visible_key(kind)] = spaces.Box(0.0, 1.0, (rows,), np.float32)
        found[present_key(kind)] = spaces.Box(0.0, 1.0, (rows,), np.float32)
    found[LIDAR_KEY] = spaces.Box(0.0, 1.0, (n_lidar,), np.float32)
    return spaces.Dict(found)


class ObservationBuilder:
    """Builds all agents' observations from the world's state, sight and lidar."""

    def __init__(self, teams: np.ndarray, n_boxes: int, n_ramps: int, object_sizes: np.ndarray) -> None:
        n = len(teams)
        self.n_agents, self.teams = n, teams
        # Row i lists every agent but i, in order.
        self.others = np.array([[j for j in range(n) if j != i] for i in range(n)]).reshape(n, n - 1)
        self.rows = np.arange(n)[:, None]
        self.counts = {"agents": n - 1, "boxes": max(1, n_boxes), "ramps": max(1, n_ramps)}
        real = {"agents": n - 1, "boxes": n_boxes, "ramps": n_ramps}
        self.object_parts = {"boxes": slice(0, n_boxes), "ramps": slice(n_boxes, n_boxes + n_ramps)}
        padded = [kind for kind in ("boxes", "ramps") if not real[kind]]
        self.agents = np.zeros((n, KINEMATIC_SIZE + 2), dtype=np.float32)
        self.agents[:, KINEMATIC_SIZE:] = np.eye(2, dtype=np.float32)[teams]
        self.objects = np.zeros((n, n_boxes + n_ramps, OBJECT_SIZE), dtype=np.float32)
        self.objects[:, :, KINEMATIC_SIZE:-2] = object_sizes
        constant = {present_key(kind): np.tile(np.arange(rows) < real[kind], (n, 1)).astype(np.float32)
                    for kind, rows in self.counts.items()}
        for kind in padded:
            constant[kind] = np.zeros((n, 1, OBJECT_SIZE), dtype=np.float32)
            constant[visible_key(kind)] = np.zeros((n, 1), dtype=np.float32)
        for value in constant.values():
            value.flags.writeable = False
        self.constant = [{key: value[i] for key, value in constant.items()} for i in range(n)]

    def build(self, qpos: np.ndarray, qvel: np.ndarray, heading: np.ndarray, seen: np.ndarray, lidar: np.ndarray,
              lock_team: np.ndarray | None, prep: bool, time: float) -> list[dict[str, np.ndarray]]:
        """Per agent, in agent order: its observation dict. qpos and qvel are (n_bodies, 4), heading
        (n_bodies, 2) sin and cos of yaw, seen (n_agents, n_bodies) sight, lidar (n_agents, n_lidar) in
        [0, 1], lock_team (n_objects,) -1 or the locking team, None when nothing is locked."""
        n = self.n_agents
        kinematics = np.concatenate((qpos[:, :3], qvel[:, :3], heading), axis=1, dtype=np.float32)
        agents = self.agents
        agents[:, :KINEMATIC_SIZE] = kinematics[:n]
        own = np.empty((n, SELF_SIZE), dtype=np.float32)
        own[:, :-2], own[:, -2], own[:, -1] = agents, prep, time
        visible = seen.astype(np.float32)
        batch = {SELF_KEY: own, LIDAR_KEY: lidar.astype(np.float32), "agents": agents[self.others],
                 visible_key("agents"): visible[self.rows, self.others]}
        objects = self.objects.copy()
        objects[:, :, :KINEMATIC_SIZE] = kinematics[n:]
        if lock_team is not None:
            own_lock = lock_team == self.teams[:, None]
            objects[:, :, -2], objects[:, :, -1] = own_lock, (lock_team >= 0) & ~own_lock
        for kind, part in self.object_parts.items():
            if part.stop > part.start:
                batch[kind] = objects[:, part]
                batch[visible_key(kind)] = visible[:, n + part.start : n + part.stop]
        return [{**constant, **{key: value[i] for key, value in batch.items()}} for i, constant in enumerate(self.constant)]

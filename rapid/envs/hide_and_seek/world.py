"""The engine's state: one scene's MjModel and MjData, its walls per episode, and stepping the physics.

Perception (perception.py) and grab and lock (manipulation.py) act on a World; no game rule lives
here, so another game on the same arena (RUSP's Oasis) reuses it as it is.
"""

import mujoco
import numpy as np

from rapid.envs.hide_and_seek.contract import MOVE_BINS, MOVE_LIMIT
from rapid.envs.hide_and_seek.scene import AGENT_RADIUS, RAMP_HALF, SUBSTEPS, WALL_PARK_Z, SceneSpec, build_model

# The original discretizes each movement action into 11 bins over [-0.9, 0.9] (wrappers/util.py).
MOVE_VALUES = np.linspace(-MOVE_LIMIT, MOVE_LIMIT, MOVE_BINS)
PARKED_WALL = (0.0, 0.0, WALL_PARK_Z, 0.05, 0.05, 0.05)
QUARTER_TURN = np.array([0.0, np.pi / 2])  # sin(yaw + pi/2) = cos(yaw): both in one call


class World:
    """A scene's model and data, its bodies in order (agents, boxes, ramps), and the physics step.

    Every movable body has qpos and qvel rows (x, y, z, yaw), read as the (n_bodies, 4) views `qpos`
    and `qvel`; `heading` (n_bodies, 2) holds the sine and cosine of each body's yaw. Geometry
    (geom_xpos, what rays see) is the kinematics MuJoCo last computed: `step` and `reset` leave it
    current; after writing qpos yourself, call `refresh`.
    """

    def __init__(self, spec: SceneSpec) -> None:
        self.spec = spec
        self.model = model = build_model(spec)
        self.data = mujoco.MjData(model)
        self.n_agents = len(spec.teams)
        self.n_boxes = len(spec.box_halves)
        self.n_objects = self.n_boxes + spec.n_ramps
        self.n_bodies = self.n_agents + self.n_objects
        objects = [f"box_{k}" for k in range(self.n_boxes)] + [f"ramp_{k}" for k in range(spec.n_ramps)]
        self.body_names = [*spec.agent_names, *objects]
        self.body_ids = np.array([model.body(name).id for name in self.body_names])
        self.body_geoms = np.array([model.geom(name).id for name in self.body_names])
        self.object_halves = np.array([*spec.box_halves, *[RAMP_HALF] * spec.n_ramps]).reshape(-1, 3)
        self.rest_height = np.concatenate([np.full(self.n_agents, AGENT_RADIUS), self.object_halves[:, 2]])
        self.object_joints = np.arange(4 * self.n_agents, 4 * self.n_bodies).reshape(-1, 4)
        self.wall_geoms = np.array([model.geom(f"wall_{k}").id for k in range(spec.n_walls)], dtype=int)
        wall_bodies = model.geom_bodyid[self.wall_geoms]
        self.wall_mocap = model.body_mocapid[wall_bodies]
        self.wall_bvh = model.body_bvhadr[wall_bodies]
        self.marker_mocap = np.array([model.body_mocapid[model.body(f"marker_{k}").id] for k in range(spec.n_markers)], dtype=int)
        # Views into MjData, which MuJoCo never reallocates.
        self.qpos = self.data.qpos.reshape(self.n_bodies, 4)
        self.qvel = self.data.qvel.reshape(self.n_bodies, 4)
        self.ctrl = self.data.ctrl.reshape(self.n_agents, 3)
        self.heading = np.zeros((self.n_bodies, 2))

    def reset(self, walls: np.ndarray, poses: np.ndarray) -> None:
        """Walls (n, 6: centre, half sizes) from the pool; every body at rest at poses (n_bodies, 3: x, y, yaw)."""
        mujoco.mj_resetData(self.model, self.data)
        self.set_walls(walls)
        self.qpos[:, :2], self.qpos[:, 2], self.qpos[:, 3] = poses[:, :2], self.rest_height, poses[:, 2]
        mujoco.mj_forward(self.model, self.data)
        self._update_heading()

    def set_walls(self, walls: np.ndarray) -> None:
        """Move and resize the pool's first walls to `walls` (n, 6: centre, half sizes); park the rest under the floor."""
        if len(walls) > len(self.wall_geoms):
            raise ValueError(f"the layout has {len(walls)} wall pieces; the scene's pool holds {len(self.wall_geoms)}")
        model = self.model
        boxes = np.concatenate([np.reshape(walls, (-1, 6)), np.tile(PARKED_WALL, (len(self.wall_geoms) - len(walls), 1))])
        self.data.mocap_pos[self.wall_mocap] = boxes[:, :3]
        model.geom_size[self.wall_geoms] = boxes[:, 3:]
        model.geom_aabb[self.wall_geoms, 3:] = boxes[:, 3:]
        model.geom_rbound[self.wall_geoms] = np.linalg.norm(boxes[:, 3:], axis=1)
        # Ray casting first tests each body's bounding volume from compile time: keep it the wall's.
        model.bvh_aabb[self.wall_bvh, 3:] = boxes[:, 3:]

    def set_markers(self, positions: np.ndarray) -> None:
        """Put the markers at (n_markers, 3) positions; the camera shows them after the next `step` or `refresh`."""
        self.data.mocap_pos[self.marker_mocap] = positions

    def step(self, move: np.ndarray) -> None:
        """Drive each agent by its (x force, y force, z torque) bins, (n_agents, 3), for SUBSTEPS physics steps."""
        self.ctrl[:] = MOVE_VALUES[move]
        mujoco.mj_step(self.model, self.data, nstep=SUBSTEPS)
        self.refresh()

    def refresh(self) -> None:
        """Geometry and headings from the present qpos (MuJoCo's step leaves geometry one substep behind)."""
        mujoco.mj_kinematics(self.model, self.data)
        self._update_heading()

    def _update_heading(self) -> None:
        self.heading = np.sin(self.qpos[:, 3:] + QUARTER_TURN)


class WorldEnv:
    """What an env on this engine shows the outside: `model` and `data` (rapid's physics guard
    watches them), `render()` from the top camera with render_mode 'rgb_array', and `close()`.
    The env sets `world`, `render_mode` and `_camera`."""

    world: World
    render_mode: str | None
    _camera: "TopCamera"

    @property
    def model(self) -> mujoco.MjModel:
        return self.world.model

    @property
    def data(self) -> mujoco.MjData:
        return self.world.data

    def render(self) -> np.ndarray | None:
        """An (height, width, 3) uint8 frame from the top camera, with render_mode 'rgb_array'."""
        return self._camera.frame() if self.render_mode == "rgb_array" else None

    def close(self) -> None:
        """Free the offscreen renderer's GL context."""
        self._camera.close()


class TopCamera:
    """Frames from a world's top camera; the offscreen GL context is made at the first frame."""

    def __init__(self, world: World, width: int, height: int) -> None:
        self.world, self.width, self.height = world, width, height
        self._renderer: mujoco.Renderer | None = None
        self._options = mujoco.MjvOption()
        self._options.geomgroup[:4] = 1  # decoration too (group 3: agents' noses, markers), which rays ignore

    def frame(self) -> np.ndarray:
        """An (height, width, 3) uint8 frame of the present state."""
        if self._renderer is None:
            self._renderer = mujoco.Renderer(self.world.model, height=self.height, width=self.width)
        self._renderer.update_scene(self.world.data, camera="top", scene_option=self._options)
        return self._renderer.render()

    def close(self) -> None:
        """Free the GL context."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

"""The scene generator: agents, boxes, ramps and a pool of walls as one MJCF model, with no game in it.

The model is built once per env and kept across episodes (rapid's physics guard holds its MjData):
each episode moves and resizes the walls of the pool (`World.set_walls`) and places the bodies by
qpos. Walls are mocap bodies, not geoms of the world body, because MuJoCo's midphase keeps the
world body's bounding-volume tree from compile time and would miss a moved wall. So that
the hot path can read every body's state as one (n_bodies, 4) view of qpos and qvel, every movable
body has the same four joints, in order: slide x, slide y, slide z, hinge z (yaw), and sits at the
world origin at qpos 0 (its qpos is its world position).

Facts from openai/multi-agent-emergence-environments and openai/mujoco-worldgen
(`assets/xmls/particle_hinge`, `assets/xmls/ramp`, `mae_envs/modules/objects.py`, `agents.py`,
`envs/hide_and_seek.py`): timestep 0.005 s with 15 substeps, gravity -50; agents are spheres of
radius 0.15 and mass 1, joint damping 10 (x, y, yaw) and 1 (z), motors of gear 100 on x, y and yaw
driven within [-0.9, 0.9]; boxes are 0.5 m cubes or 1.65 x 0.15 x 0.5 m elongated boxes (0.5 x
(3.3, 0.3, 1)), mass 1, joint damping 0.01, friction 0.2 (also the floor's); ramps are 45-degree
0.5 m wedges of mass 1 with joint damping 0.1; agents, ramps and walls have friction 0.01; grabbing
is a weld from the agent to an object, off until used.
"""

from dataclasses import dataclass

import mujoco
import numpy as np

from rapid.envs.hide_and_seek.contract import MOVE_LIMIT

TIMESTEP = 0.005
SUBSTEPS = 15
GRAVITY = -50.0
AGENT_RADIUS = 0.15
BOX_HALF = (0.25, 0.25, 0.25)
ELONGATED_BOX_HALF = (0.825, 0.075, 0.25)
RAMP_HALF = (0.25, 0.25, 0.25)
MOTOR_GEAR = 100.0
BOX_FRICTION = 0.2  # boxes and floor
OTHER_FRICTION = 0.01  # agents, ramps, walls
TEAM_RGBA = ("0.26 0.92 0.96 1", "1 0 0 1")  # hiders, seekers
RAY_GROUPS = np.array([1, 1, 1, 0, 0, 0], dtype=np.uint8)  # rays see groups 0-2; decoration is group 3
WALL_PARK_Z = -10.0  # unused walls of the pool wait under the floor
JOINT_AXES = (("x", "slide", "1 0 0"), ("y", "slide", "0 1 0"), ("z", "slide", "0 0 1"), ("yaw", "hinge", "0 0 1"))
# The ramp: a wedge whose slope rises towards -y, in its bounding box of RAMP_HALF.
MARKER_RADIUS = 0.2
RAMP_VERTICES = "-.25 -.25 -.25  .25 -.25 -.25  .25 .25 -.25  -.25 .25 -.25  -.25 -.25 .25  .25 -.25 .25"


@dataclass(frozen=True)
class SceneSpec:
    """What a world holds: agents by team, box half extents, ramps, the wall pool and the floor."""

    teams: tuple[int, ...]  # per agent: 0 hider, 1 seeker
    agent_names: tuple[str, ...]
    box_halves: tuple[tuple[float, float, float], ...]
    n_ramps: int
    n_walls: int
    floor_size: float
    bounds_size: float  # the square the floor drawing covers
    render_size: tuple[int, int] = (256, 256)  # width, height
    n_markers: int = 0  # flat discs a game moves about, seen by the camera only (Oasis's food)


def _joints(name: str, damping: tuple[float, float, float, float]) -> str:
    return "".join(f'<joint name="{name}:{axis}" type="{kind}" axis="{vec}" damping="{damp}"/>'
                   for (axis, kind, vec), damp in zip(JOINT_AXES, damping, strict=True))


def _agent(name: str, team: int) -> str:
    rgba = TEAM_RGBA[team]
    return (f'<body name="{name}">{_joints(name, (10, 10, 1, 10))}'
            f'<geom name="{name}" type="sphere" size="{AGENT_RADIUS}" mass="1" friction="{OTHER_FRICTION}" rgba="{rgba}"/>'
            f'<geom name="{name}:nose" type="sphere" size="0.05" pos="0.14 0 0.04" contype="0" conaffinity="0" '
            f'group="3" mass="0" rgba="0.1 0.1 0.1 1"/></body>')


def _box(k: int, half: tuple[float, float, float]) -> str:
    size = " ".join(map(str, half))
    return (f'<body name="box_{k}">{_joints(f"box_{k}", (0.01,) * 4)}<geom name="box_{k}" type="box" size="{size}" '
            f'mass="1" friction="{BOX_FRICTION}" rgba="0.9 0.7 0.2 1"/></body>')


def _ramp(k: int) -> str:
    return (f'<body name="ramp_{k}">{_joints(f"ramp_{k}", (0.1,) * 4)}<geom name="ramp_{k}" type="mesh" mesh="ramp" '
            f'mass="1" friction="{OTHER_FRICTION}" rgba="0 0.5 1 1"/></body>')


def scene_xml(spec: SceneSpec) -> str:
    """The MJCF of a scene: floor, wall pool, agents, boxes, ramps, their motors and grab welds."""
    width, height = spec.render_size
    camera_height = (spec.floor_size / 2 + 0.5) / np.tan(np.radians(22.5))
    walls = "".join(f'<body name="wall_{k}" mocap="true" pos="0 0 {WALL_PARK_Z}"><geom name="wall_{k}" type="box" '
                    f'size="0.05 0.05 0.05" group="1" friction="{OTHER_FRICTION}" rgba="0.55 0.6 0.55 1"/></body>'
                    for k in range(spec.n_walls))
    markers = "".join(f'<body name="marker_{k}" mocap="true" pos="0 0 {WALL_PARK_Z}"><geom name="marker_{k}" type="cylinder" '
                      f'size="{MARKER_RADIUS} 0.01" contype="0" conaffinity="0" group="3" rgba="0.2 0.8 0.2 1"/></body>'
                      for k in range(spec.n_markers))
    bodies = "".join(_agent(name, team) for name, team in zip(spec.agent_names, spec.teams, strict=True))
    bodies += "".join(_box(k, half) for k, half in enumerate(spec.box_halves))
    bodies += "".join(_ramp(k) for k in range(spec.n_ramps))
    motors = "".join(f'<motor joint="{name}:{axis}" gear="{MOTOR_GEAR}" ctrlrange="-{MOVE_LIMIT} {MOVE_LIMIT}"/>'
                     for name in spec.agent_names for axis in ("x", "y", "yaw"))
    objects = [f"box_{k}" for k in range(len(spec.box_halves))] + [f"ramp_{k}" for k in range(spec.n_ramps)]
    welds = "".join(f'<weld name="{name}:grab" body1="{name}" body2="{objects[0]}" active="false"/>'
                    for name in spec.agent_names) if objects else ""
    half_bounds = spec.bounds_size / 2
    return f"""<mujoco model="hide_and_seek">
  <option timestep="{TIMESTEP}" gravity="0 0 {GRAVITY}"/>
  <visual>
    <global offwidth="{max(width, 640)}" offheight="{max(height, 480)}"/>
    <headlight ambient="0.35 0.35 0.35" diffuse="0.4 0.4 0.4"/>
  </visual>
  <asset>
    <mesh name="ramp" vertex="{RAMP_VERTICES}"/>
    <texture name="grid" type="2d" builtin="checker" rgb1="0.82 0.82 0.8" rgb2="0.74 0.74 0.72" width="64" height="64"/>
    <material name="grid" texture="grid" texrepeat="{spec.bounds_size / 0.4} {spec.bounds_size / 0.4}"/>
  </asset>
  <worldbody>
    <light pos="0 0 12" dir="0.1 0.15 -1" directional="true" diffuse="0.6 0.6 0.6"/>
    <camera name="top" pos="0 0 {camera_height:.3f}" xyaxes="1 0 0 0 1 0"/>
    <geom name="floor" type="plane" size="{half_bounds} {half_bounds} 0.1" material="grid" friction="{BOX_FRICTION}"/>
    {walls}{markers}{bodies}
  </worldbody>
  <actuator>{motors}</actuator>
  <equality>{welds}</equality>
</mujoco>"""


def build_model(spec: SceneSpec) -> mujoco.MjModel:
    """The compiled scene, checked for the body and joint layout the world relies on."""
    model = mujoco.MjModel.from_xml_string(scene_xml(spec))
    n_bodies = len(spec.teams) + len(spec.box_halves) + spec.n_ramps
    if model.nbody != n_bodies + spec.n_walls + spec.n_markers + 1 or model.nq != 4 * n_bodies or model.nv != 4 * n_bodies:
        movable = model.nbody - 1 - spec.n_walls - spec.n_markers
        raise RuntimeError(f"the scene has {movable} movable bodies with nq {model.nq}, nv {model.nv}; "
                           f"expected {n_bodies} with 4 joints each")
    return model

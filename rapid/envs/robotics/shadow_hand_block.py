"""Dactyl's block reorientation on the Shadow Hand model that gymnasium-robotics ships, built for steps/s.

The task (PAPERS.md §1): turn the block to a random target orientation; within
`success_tolerance` radians the goal counts as reached, +`reach_goal_bonus` is paid and a new
goal is drawn; reward d_t - d_{t+1} on the rotation distance; dropping the block costs
`drop_penalty` and ends the episode, as do `max_consecutive_successes` successes; `timeout_s`
of sim time without a success truncates it.

Speed is the point: one native `mj_step(nstep=n_substeps)` per env step, observations
written in place into one preallocated staging vector, and the only per-step allocations
are the two float32 arrays returned (RLlib keeps every observation it is given, so they must
be fresh; the env never touches an array after returning it).
"""

import importlib.util
import math
from pathlib import Path
from typing import Any

import gymnasium
import mujoco
import numpy as np
from gymnasium import spaces

# Found without importing gymnasium_robotics, whose import prints a notice about other envs.
ASSETS = Path(importlib.util.find_spec("gymnasium_robotics").origin).parent / "envs" / "assets"
MODEL_XML = ASSETS / "hand" / "manipulate_block.xml"
FINGERTIP_SITES = tuple(f"robot0:S_{finger}tip" for finger in ("ff", "mf", "rf", "lf", "th"))
HAND_JOINT_PREFIX = "robot0:"
# gymnasium-robotics lets a new start pose settle for 10 env steps at zero action before use.
SETTLE_STEPS = 10
# A start pose whose block falls off while settling (or whose physics warns) is drawn again.
MAX_RESET_ATTEMPTS = 10
# Position is not part of the goal, so the goal block is shown beside the real one, as
# gymnasium-robotics does when it ignores target position (0.1 m, not its 0.15 m, stays in view).
GOAL_DISPLAY_OFFSET = np.array([0.1, 0.0, 0.0])
# gymnasium-robotics' default view of the hand.
CAMERA = {"distance": 0.5, "azimuth": 55.0, "elevation": -25.0, "lookat": (1.0, 0.96, 0.14)}

Observation = dict[str, np.ndarray]
StepResult = tuple[Observation, float, bool, bool, dict[str, Any]]


def random_quaternion(rng: np.random.Generator) -> np.ndarray:
    """A rotation drawn uniformly from SO(3): a normalised 4-d Gaussian is uniform on the unit sphere."""
    quat = rng.normal(size=4)
    return quat / np.linalg.norm(quat)


class ShadowHandBlock(gymnasium.Env):
    """Reorient a block in the Shadow Dexterous Hand to goal after goal (Dactyl's task).

    Actions in [-1, 1]^20 map affinely onto each actuator's ctrlrange (absolute joint targets).
    Observations are a dict: "actor" is what the robot senses, "critic" the privileged state
    (the actor vector first, then velocities, full qpos/qvel and the success count); see
    `observation_layout` for where each part lies.

    `model` and `data` are public so a domain-randomization wrapper can change model fields
    between episodes and push the block through `data.xfrc_applied` (reset() zeroes it). The
    env caches no derived model quantity except the actuator ctrlrange mapping (centre and
    half-range, read at construction) and `control_dt`.

    Fingertip positions come from the kinematics MuJoCo computed for the last substep, so they
    lag qpos by one timestep (2 ms of a 40 ms step); recomputing them would cost an extra
    kinematics pass every step.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 25}

    def __init__(
        self,
        *,
        success_tolerance: float = 0.4,
        reach_goal_bonus: float = 5.0,
        drop_penalty: float = 20.0,
        drop_height: float = 0.1,
        max_consecutive_successes: int = 50,
        timeout_s: float = 80.0,
        n_substeps: int = 20,
        initial_position_noise: float = 0.005,
        render_mode: str | None = None,
        width: int = 480,
        height: int = 480,
    ) -> None:
        """Build the task; every argument is an env_config key, with the paper's values as defaults.

        drop_height: the block counts as dropped once its centre is this far below its start
            height (0.2 m). Held, it rests near 0.17 m; under random actions it stayed in the hand
            for 40,000 steps and never went below 0.13 m; the palm is at 0.14 m. So 0.1 m below
            the start is under the palm: the block has left the hand, while no grasp trips it.
        timeout_s: sim seconds without a success before the episode is truncated (80 s, paper).
        initial_position_noise: std (m) of the block's start position noise, gymnasium-robotics' value.
        """
        if max_consecutive_successes < 1:
            raise ValueError(f"max_consecutive_successes must be at least 1, got {max_consecutive_successes}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode {render_mode!r} is not one of {self.metadata['render_modes']}")
        self.success_tolerance = success_tolerance
        self.reach_goal_bonus = reach_goal_bonus
        self.drop_penalty = drop_penalty
        self.drop_height = drop_height
        self.max_consecutive_successes = max_consecutive_successes
        self.n_substeps = n_substeps
        self.initial_position_noise = initial_position_noise
        self.render_mode = render_mode
        self.width, self.height = width, height

        self.model = mujoco.MjModel.from_xml_path(str(MODEL_XML))
        self.data = mujoco.MjData(self.model)
        model, data = self.model, self.data
        self.control_dt = float(model.opt.timestep) * n_substeps
        self.metadata = {**self.metadata, "render_fps": round(1.0 / self.control_dt)}
        self.timeout_steps = max(1, round(timeout_s / self.control_dt))

        self.object_body_id = model.body("object").id
        object_joint, target_joint = model.joint("object:joint"), model.joint("target:joint")
        self._object_qpos_adr = int(object_joint.qposadr[0])
        object_dof = int(object_joint.dofadr[0])
        target_qpos, target_dof = int(target_joint.qposadr[0]), int(target_joint.dofadr[0])
        hand_joints = [j for j in range(model.njnt) if model.joint(j).name.startswith(HAND_JOINT_PREFIX)]
        hand_qpos = model.jnt_qposadr[hand_joints]
        hand_dofs = model.jnt_dofadr[hand_joints]
        if not (np.array_equal(np.diff(hand_qpos), np.ones(len(hand_joints) - 1))
                and np.array_equal(np.diff(hand_dofs), np.ones(len(hand_joints) - 1))):
            raise ValueError(f"{MODEL_XML} does not store the hand's joints contiguously")
        self._fingertip_site_ids = np.array([model.site(name).id for name in FINGERTIP_SITES])

        lower, upper = model.actuator_ctrlrange.T
        self._ctrl_center = (upper + lower) / 2.0
        self._ctrl_half_range = (upper - lower) / 2.0

        # Views into the simulator state: MjData's arrays are never reallocated.
        self._qpos, self._qvel, self._ctrl = data.qpos, data.qvel, data.ctrl
        self._object_qpos = data.qpos[self._object_qpos_adr : self._object_qpos_adr + 7]
        self._object_quat = self._object_qpos[3:]
        self._object_qvel = data.qvel[object_dof : object_dof + 6]
        self._hand_qpos = data.qpos[hand_qpos[0] : hand_qpos[-1] + 1]
        self._hand_qvel = data.qvel[hand_dofs[0] : hand_dofs[-1] + 1]
        self._target_qpos = data.qpos[target_qpos : target_qpos + 7]
        self._target_qvel = data.qvel[target_dof : target_dof + 6]
        self._warning_stats = tuple(data.warning[i] for i in range(int(mujoco.mjtWarning.mjNWARNING)))

        n_hand = len(hand_joints)
        parts = {
            "fingertip_pos": 3 * len(FINGERTIP_SITES),
            "hand_qpos": n_hand,
            "object_pos": 3,
            "object_quat": 4,
            "goal_quat": 4,
            "relative_quat": 4,
            "hand_qvel": n_hand,
            "object_vel": 6,
            "qpos": model.nq,
            "qvel": model.nv,
            "consecutive_successes": 1,
        }
        self.observation_layout: dict[str, slice] = {}
        start = 0
        for name, size in parts.items():
            self.observation_layout[name] = slice(start, start + size)
            start += size
        self.actor_size = self.observation_layout["relative_quat"].stop
        self.critic_size = start

        # The staging vector: filled in place each step, copied out as float32.
        self._obs = np.zeros(self.critic_size)
        views = {name: self._obs[where] for name, where in self.observation_layout.items()}
        self._obs_fingertips = views["fingertip_pos"].reshape(len(FINGERTIP_SITES), 3)
        self._obs_hand_qpos = views["hand_qpos"]
        layout = self.observation_layout
        self._obs_object_pose = self._obs[layout["object_pos"].start : layout["object_quat"].stop]
        self._goal_quat = views["goal_quat"]
        self._obs_relative_quat = views["relative_quat"]
        self._obs_hand_qvel = views["hand_qvel"]
        self._obs_object_vel = views["object_vel"]
        self._obs_qpos = views["qpos"]
        self._obs_qvel = views["qvel"]
        self._obs_consecutive_successes = views["consecutive_successes"]
        self._object_quat_conjugate = np.zeros(4)
        self._target_pose = np.zeros(7)
        self._action = np.zeros(model.nu)

        self.action_space = spaces.Box(-1.0, 1.0, shape=(model.nu,), dtype=np.float32)
        self.observation_space = spaces.Dict(
            {
                "actor": spaces.Box(-np.inf, np.inf, shape=(self.actor_size,), dtype=np.float32),
                "critic": spaces.Box(-np.inf, np.inf, shape=(self.critic_size,), dtype=np.float32),
            }
        )

        self._consecutive_successes = 0
        self._steps_since_success = 0
        self._distance = 0.0
        self._drop_z = 0.0
        self._warnings_at_reset = 0
        self._last_obs: Observation | None = None
        self._renderer: mujoco.Renderer | None = None
        self._camera = mujoco.MjvCamera()
        self._camera.distance = CAMERA["distance"]
        self._camera.azimuth = CAMERA["azimuth"]
        self._camera.elevation = CAMERA["elevation"]
        self._camera.lookat[:] = CAMERA["lookat"]

    @property
    def goal_quat(self) -> np.ndarray:
        """The current goal orientation (w, x, y, z), a copy."""
        return self._goal_quat.copy()

    @property
    def consecutive_successes(self) -> int:
        """Goals reached so far in this episode."""
        return self._consecutive_successes

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Observation, dict[str, Any]]:
        """Start an episode: hand at its initial pose, block on the palm in a random orientation, a random goal."""
        super().reset(seed=seed)
        for _ in range(MAX_RESET_ATTEMPTS):
            if self._reset_simulation():
                break
        self._consecutive_successes = 0
        self._steps_since_success = 0
        self._obs_consecutive_successes[0] = 0.0
        self._draw_goal()
        self._distance = self._fill_observation()
        return self._observation(), self._info(is_success=False, dropped=False, sim_unstable=False)

    def step(self, action: np.ndarray) -> StepResult:
        """Advance one control step (n_substeps of physics) and score it."""
        np.clip(action, -1.0, 1.0, out=self._action)
        np.multiply(self._action, self._ctrl_half_range, out=self._ctrl)
        np.add(self._ctrl, self._ctrl_center, out=self._ctrl)
        try:
            mujoco.mj_step(self.model, self.data, nstep=self.n_substeps)
        except mujoco.FatalError:
            return self._unstable_step()
        # MuJoCo resets the state itself on a diverged qpos/qvel/qacc and only counts a warning.
        if self._warning_count() != self._warnings_at_reset:
            return self._unstable_step()
        # The goal block floats where it is put: it is a display and takes no part in the task.
        self._target_qpos[:] = self._target_pose
        self._target_qvel.fill(0.0)
        distance = self._fill_observation()
        if not math.isfinite(self._obs.sum()):
            return self._unstable_step()

        reward = self._distance - distance
        is_success = distance < self.success_tolerance
        terminated = False
        if is_success:
            reward += self.reach_goal_bonus
            self._consecutive_successes += 1
            self._steps_since_success = 0
            self._obs_consecutive_successes[0] = self._consecutive_successes / self.max_consecutive_successes
            if self._consecutive_successes >= self.max_consecutive_successes:
                terminated = True
            else:
                self._draw_goal()
                self._obs_qpos[:] = self._qpos
                distance = self._relative_rotation()
        else:
            self._steps_since_success += 1
        self._distance = distance

        dropped = self._object_qpos[2] < self._drop_z
        if dropped:
            reward -= self.drop_penalty
            terminated = True
        truncated = not terminated and self._steps_since_success >= self.timeout_steps
        return self._observation(), reward, terminated, truncated, self._info(is_success, dropped, sim_unstable=False)

    def render(self) -> np.ndarray | None:
        """An RGB frame from gymnasium-robotics' default view, the goal shown as a translucent block beside the hand."""
        if self.render_mode != "rgb_array":
            return None
        if self._renderer is None:
            self.model.vis.global_.offwidth = max(self.width, self.model.vis.global_.offwidth)
            self.model.vis.global_.offheight = max(self.height, self.model.vis.global_.offheight)
            self._renderer = mujoco.Renderer(self.model, height=self.height, width=self.width)
        # Derived quantities only: mj_forward leaves the trajectory exactly as it was.
        mujoco.mj_forward(self.model, self.data)
        self._renderer.update_scene(self.data, camera=self._camera)
        return self._renderer.render()

    def close(self) -> None:
        """Free the offscreen renderer's GL context."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def _reset_simulation(self) -> bool:
        """Draw a start pose and let it settle; False if the block fell off or the physics warned."""
        model, data = self.model, self.data
        mujoco.mj_resetData(model, data)
        start = model.qpos0[self._object_qpos_adr : self._object_qpos_adr + 3]
        self._drop_z = float(start[2]) - self.drop_height
        self._object_qpos[:3] += self.np_random.normal(scale=self.initial_position_noise, size=3)
        self._object_quat[:] = random_quaternion(self.np_random)
        self._ctrl[:] = self._ctrl_center
        try:
            mujoco.mj_step(model, data, nstep=SETTLE_STEPS * self.n_substeps)
        except mujoco.FatalError:
            return False
        self._warnings_at_reset = self._warning_count()
        finite = bool(np.isfinite(data.qpos).all() and np.isfinite(data.qvel).all())
        return finite and self._warnings_at_reset == 0 and self._object_qpos[2] >= self._drop_z

    def _draw_goal(self) -> None:
        """A new uniformly random goal orientation, also set on the goal block that rendering shows."""
        self._goal_quat[:] = random_quaternion(self.np_random)
        start = self.model.qpos0[self._object_qpos_adr : self._object_qpos_adr + 3]
        self._target_pose[:3] = start + GOAL_DISPLAY_OFFSET
        self._target_pose[3:] = self._goal_quat
        self._target_qpos[:] = self._target_pose
        self._target_qvel.fill(0.0)

    def _relative_rotation(self) -> float:
        """Write goal * conj(object) (the rotation still to do, w >= 0) and return its angle, the distance d."""
        mujoco.mju_negQuat(self._object_quat_conjugate, self._object_quat)
        mujoco.mju_mulQuat(self._obs_relative_quat, self._goal_quat, self._object_quat_conjugate)
        w, x, y, z = self._obs_relative_quat.tolist()
        if w < 0.0:
            np.negative(self._obs_relative_quat, out=self._obs_relative_quat)
        # atan2 of the half-angle's sine and cosine stays accurate near 0, where arccos(w) does not.
        return 2.0 * math.atan2(math.sqrt(x * x + y * y + z * z), abs(w))

    def _fill_observation(self) -> float:
        """Copy the simulator state into the staging vector; return the rotation distance to the goal."""
        np.take(self.data.site_xpos, self._fingertip_site_ids, axis=0, out=self._obs_fingertips, mode="clip")
        self._obs_hand_qpos[:] = self._hand_qpos
        self._obs_object_pose[:] = self._object_qpos
        self._obs_hand_qvel[:] = self._hand_qvel
        self._obs_object_vel[:] = self._object_qvel
        self._obs_qpos[:] = self._qpos
        self._obs_qvel[:] = self._qvel
        return self._relative_rotation()

    def _observation(self) -> Observation:
        """Fresh float32 arrays: the caller may keep them, and the env never writes to them again."""
        self._last_obs = {
            "actor": self._obs[: self.actor_size].astype(np.float32),
            "critic": self._obs.astype(np.float32),
        }
        return self._last_obs

    def _unstable_step(self) -> StepResult:
        """End the episode on diverged physics: last good observation, no reward, truncated (not the policy's doing)."""
        if self._last_obs is None:
            obs = {"actor": np.zeros(self.actor_size, np.float32), "critic": np.zeros(self.critic_size, np.float32)}
        else:
            obs = {key: value.copy() for key, value in self._last_obs.items()}
        return obs, 0.0, False, True, self._info(is_success=False, dropped=False, sim_unstable=True)

    def _warning_count(self) -> int:
        """MuJoCo's warnings so far (diverged state, full contact/constraint buffers, bad inertia or ctrl)."""
        return sum([stat.number for stat in self._warning_stats])

    def _info(self, is_success: bool, dropped: bool, sim_unstable: bool) -> dict[str, Any]:
        """The same keys at reset and every step, so loggers and RLlib see one schema."""
        return {
            "consecutive_successes": self._consecutive_successes,
            "is_success": bool(is_success),
            "dropped": bool(dropped),
            "rotation_distance": self._distance,
            "sim_unstable": sim_unstable,
        }

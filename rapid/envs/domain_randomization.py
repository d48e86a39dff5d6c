"""Domain randomization as a Gymnasium wrapper for any MuJoCo env (Shadow Hand, Fetch, ...).

At every reset the wrapper restores the model's nominal values, then redraws each listed
parameter: a MuJoCo model field (`body_mass`, `geom_friction`, `dof_damping`, `opt.gravity`,
...) for the elements a selector picks, scaled by or offset with a draw from a named
distribution. It also adds observation and action noise (per-step plus per-episode
correlated parts), action latency and random forces on a body. Noise is drawn from the
wrapper's own generator, seeded by `reset(seed=...)`, so a run is reproducible.

Automatic domain randomization (rapid/training/adr.py) drives the same wrapper by moving
`ranges` and pinning one parameter at a boundary.
"""

import fnmatch
from collections import deque
from typing import Annotated, Any, Literal

import gymnasium as gym
import mujoco
import numpy as np
from pydantic import BeforeValidator, Field, field_validator, model_validator

from rapid.envs.physics_guard import mujoco_parts
from rapid.platform.errors import did_you_mean
from rapid.platform.plugins import EnvWrapper, Strict

ELEMENT_KINDS = {
    "body": mujoco.mjtObj.mjOBJ_BODY,
    "geom": mujoco.mjtObj.mjOBJ_GEOM,
    "joint": mujoco.mjtObj.mjOBJ_JOINT,
    "actuator": mujoco.mjtObj.mjOBJ_ACTUATOR,
}
# Field prefix -> the kind of element its rows are.
FIELD_KINDS = {"body_": "body", "geom_": "geom", "jnt_": "joint", "dof_": "dof", "actuator_": "actuator"}
DISTRIBUTIONS = ("uniform", "loguniform", "normal")


class FieldTarget(Strict):
    """Which numbers of the MuJoCo model a parameter moves."""

    field: str = Field(..., description="an MjModel array (body_mass, geom_friction, dof_damping, opt.gravity, ...)")
    select: dict[str, str] = Field({}, description="{body|geom|joint|actuator: name or glob}; empty: every row")
    column: int | None = Field(None, ge=0, description="for 2-D fields, the column (geom_friction 0 = sliding)")


class Parameter(Strict):
    """One randomized physical parameter, redrawn at every reset."""

    name: str
    targets: list[FieldTarget] = Field(..., min_length=1, description="fields that move together (kp in gain and bias)")
    distribution: str = Field("uniform", description="uniform, loguniform or normal")
    range: list[float] = Field(..., min_length=2, max_length=2, description="[low, high]; for normal: [mean, standard deviation]")
    mode: Literal["scale", "add"] = Field("scale", description="multiply the nominal value, or add to it")
    per_element: bool = Field(True, description="a draw per selected element (else one for all)")

    @field_validator("distribution")
    @classmethod
    def _known(cls, name: str) -> str:
        if name not in DISTRIBUTIONS:
            expected = ", ".join(DISTRIBUTIONS)
            raise ValueError(f"unknown distribution '{name}'{did_you_mean(name, DISTRIBUTIONS)}; expected one of {expected}")
        return name

    @model_validator(mode="after")
    def _sane_range(self) -> "Parameter":
        low, high = self.range
        if self.distribution == "normal":
            if high <= 0:
                raise ValueError(f"{self.name}: normal needs range [mean, std] with std > 0, got {list(self.range)}")
        elif not low < high:
            raise ValueError(f"{self.name}: range {list(self.range)} is empty or inverted; expected [low, high] with low < high")
        elif self.distribution == "loguniform" and low <= 0:
            raise ValueError(f"{self.name}: loguniform needs a positive range, got {list(self.range)}")
        return self

    @property
    def nominal(self) -> float:
        """The value that leaves the model as built: 1 for a scale, 0 for an offset."""
        return 1.0 if self.mode == "scale" else 0.0


class Noise(Strict):
    per_step: float = Field(0.0, ge=0, description="standard deviation, redrawn every step")
    per_episode: float = Field(0.0, ge=0, description="standard deviation of an offset fixed for the episode")


class RandomForces(Strict):
    body: str = Field(..., description="the body pushed (e.g. the object)")
    probability: float = Field(0.2, ge=0, le=1, description="chance per step of a new push")
    scale: float = Field(1.0, ge=0, description="force standard deviation per axis, in units of the body's weight")
    decay: float = Field(0.99, ge=0, le=1, description="per-step decay of the push")


class Randomization(Strict):
    """The whole randomization of an env (env_config key `randomization`)."""

    parameters: list[Parameter] = []
    observation_noise: Noise = Field(default_factory=Noise)
    action_noise: Noise = Field(default_factory=Noise)
    action_latency_steps: int = Field(0, ge=0, description="per episode, a delay of 0..N steps on actions")
    random_forces: RandomForces | None = None
    observation_key: str = Field("actor", description="which key of a Dict observation is noised (a Box: all of it)")


# Named randomizations a spec may give as `randomization: <name>` (the hand's "dactyl").
PRESETS: dict[str, Randomization] = {}


def resolve_randomization(value: str | dict[str, Any] | None) -> Randomization:
    """env_config's `randomization`: a preset name, a full mapping, or none (nothing randomized)."""
    if value is None:
        return Randomization()
    if isinstance(value, str):
        if value not in PRESETS:
            known = ", ".join(PRESETS) or "none"
            raise ValueError(f"randomization: unknown preset '{value}'{did_you_mean(value, PRESETS)}; presets: {known}")
        return PRESETS[value]
    return Randomization.model_validate(value)


class _Target:
    """A FieldTarget resolved against one model: the array view and the indices it moves."""

    def __init__(self, model: mujoco.MjModel, target: FieldTarget, where: str) -> None:
        owner, attr = (model.opt, target.field[4:]) if target.field.startswith("opt.") else (model, target.field)
        array = getattr(owner, attr, None)
        if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
            fields = [n for n in dir(model) if isinstance(getattr(model, n, None), np.ndarray)]
            hint = did_you_mean(target.field, fields)
            raise ValueError(f"{where}: field '{target.field}' is not a float array of the MuJoCo model{hint}")
        self.array = array
        rows = _select_rows(model, target, array.shape[0], where)
        if target.column is not None:
            if array.ndim != 2 or target.column >= array.shape[1]:
                raise ValueError(f"{where}: field '{target.field}' has no column {target.column} (shape {array.shape})")
            self.index: tuple = (rows, target.column)
        else:
            self.index = (rows,) if array.ndim == 1 else (rows, slice(None))
        self.nominal = array[self.index].copy()

    @property
    def count(self) -> int:
        return self.nominal.shape[0]

    def apply(self, values: np.ndarray, mode: str) -> None:
        values = values.reshape((-1,) + (1,) * (self.nominal.ndim - 1))
        self.array[self.index] = self.nominal * values if mode == "scale" else self.nominal + values

    def restore(self) -> None:
        self.array[self.index] = self.nominal


def _select_rows(model: mujoco.MjModel, target: FieldTarget, rows: int, where: str) -> np.ndarray:
    if target.field.startswith("opt."):
        if target.select:
            raise ValueError(f"{where}: '{target.field}' is a global option; it takes no select")
        return np.arange(rows)
    kind = next((k for prefix, k in FIELD_KINDS.items() if target.field.startswith(prefix)), None)
    if not target.select:
        return np.arange(rows)
    if len(target.select) != 1:
        raise ValueError(f"{where}: select takes one of {', '.join(ELEMENT_KINDS)}, got {sorted(target.select)}")
    ((by, pattern),) = target.select.items()
    if by not in ELEMENT_KINDS:
        raise ValueError(f"{where}: select '{by}' is not one of {', '.join(ELEMENT_KINDS)}{did_you_mean(str(by), ELEMENT_KINDS)}")
    names = [mujoco.mj_id2name(model, ELEMENT_KINDS[by], i) or "" for i in range(_count(model, by))]
    picked = [i for i, n in enumerate(names) if fnmatch.fnmatchcase(n, pattern)]
    if not picked:
        raise ValueError(f"{where}: no {by} named '{pattern}'{did_you_mean(pattern, names)}")
    if kind == "dof" and by == "joint":
        return np.concatenate([np.arange(model.jnt_dofadr[j], model.jnt_dofadr[j] + _joint_dofs(model, j)) for j in picked])
    if kind != by:
        raise ValueError(f"{where}: field '{target.field}' has {kind} rows; it cannot be selected by {by}")
    return np.asarray(picked)


def _count(model: mujoco.MjModel, kind: str) -> int:
    return {"body": model.nbody, "geom": model.ngeom, "joint": model.njnt, "actuator": model.nu}[kind]


def _joint_dofs(model: mujoco.MjModel, joint: int) -> int:
    return {mujoco.mjtJoint.mjJNT_FREE: 6, mujoco.mjtJoint.mjJNT_BALL: 3}.get(model.jnt_type[joint], 1)


class DomainRandomization(gym.Wrapper):
    """Redraws the listed physics at every reset, on top of nominal values restored first.

    `ranges` (parameter name -> [low, high]) starts at the spec's ranges; ADR moves it and
    pins a parameter with `pin`. Under a Dict observation with a "critic" key, the episode's
    draws (mean per parameter) are appended to it: the critic may know the physics.
    """

    def __init__(self, env: gym.Env, randomization: Randomization | dict[str, Any]) -> None:
        parts = mujoco_parts(env)
        if parts is None or not isinstance(env, gym.Env):
            name = type(env.unwrapped).__name__
            raise ValueError(f"randomization: moves MuJoCo model fields; {name} is no single-agent MuJoCo env")
        super().__init__(env)
        self.spec_ = randomization if isinstance(randomization, Randomization) else Randomization.model_validate(randomization)
        self.model, self.data = parts
        self._targets = {
            p.name: [_Target(self.model, t, f"randomization.{p.name}") for t in p.targets] for p in self.spec_.parameters
        }
        for p in self.spec_.parameters:
            counts = {t.count for t in self._targets[p.name]}
            if p.per_element and len(counts) > 1:
                raise ValueError(f"randomization.{p.name}: per_element targets select different numbers of rows {sorted(counts)}")
        self.ranges: dict[str, tuple[float, float]] = {p.name: tuple(p.range) for p in self.spec_.parameters}
        self.draws = np.zeros(len(self.spec_.parameters), dtype=np.float32)
        self._pinned: tuple[str, float] | None = None
        self._rng = np.random.default_rng()
        self._forces = self._force_body()
        self._push = np.zeros(6)
        self._obs_offset: np.ndarray | None = None
        self._act_offset = np.zeros(env.action_space.shape)
        self._latency: deque = deque()
        self.observation_space = self._with_draws(env.observation_space)

    def _force_body(self) -> int | None:
        forces = self.spec_.random_forces
        if forces is None:
            return None
        body = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, forces.body)
        if body < 0:
            names = [mujoco.mj_id2name(self.model, mujoco.mjtObj.mjOBJ_BODY, i) or "" for i in range(self.model.nbody)]
            raise ValueError(f"randomization.random_forces: no body named '{forces.body}'{did_you_mean(forces.body, names)}")
        return body

    def _with_draws(self, space: gym.Space) -> gym.Space:
        if not (isinstance(space, gym.spaces.Dict) and "critic" in space.spaces and self.spec_.parameters):
            return space
        critic = space["critic"]
        extra = len(self.spec_.parameters)
        low = np.concatenate([critic.low, np.full(extra, -np.inf)]).astype(np.float32)
        high = np.concatenate([critic.high, np.full(extra, np.inf)]).astype(np.float32)
        return gym.spaces.Dict({**space.spaces, "critic": gym.spaces.Box(low, high, dtype=np.float32)})

    def pin(self, name: str, value: float) -> None:
        """For the next episode only, set parameter `name` to exactly `value` (an ADR boundary)."""
        self._pinned = (name, value)

    def _draw(self, parameter: Parameter, count: int) -> np.ndarray:
        size = count if parameter.per_element else 1
        if self._pinned and self._pinned[0] == parameter.name:
            return np.full(size, self._pinned[1])
        low, high = self.ranges[parameter.name]
        if parameter.distribution == "normal":
            return self._rng.normal(low, high, size)
        if high <= low:
            return np.full(size, low)
        if parameter.distribution == "loguniform":
            return np.exp(self._rng.uniform(np.log(low), np.log(high), size))
        return self._rng.uniform(low, high, size)

    def _randomize(self) -> None:
        for index, parameter in enumerate(self.spec_.parameters):
            targets = self._targets[parameter.name]
            values = self._draw(parameter, targets[0].count)
            for target in targets:
                target.apply(np.broadcast_to(values, (target.count,)), parameter.mode)
            self.draws[index] = values.mean()
        self._pinned = None

    def _noise_shape(self, space: gym.Space) -> tuple[int, ...]:
        if isinstance(space, gym.spaces.Dict):
            return space[self.spec_.observation_key].shape
        return space.shape

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        for targets in self._targets.values():
            for target in targets:
                target.restore()
        self._randomize()
        spec = self.spec_
        obs_shape = self._noise_shape(self.env.observation_space)
        self._obs_offset = self._rng.normal(0.0, spec.observation_noise.per_episode, obs_shape)
        self._act_offset = self._rng.normal(0.0, spec.action_noise.per_episode, self.env.action_space.shape)
        self._latency = deque(maxlen=int(self._rng.integers(0, spec.action_latency_steps + 1)) + 1)
        self._push[:] = 0.0
        if self._forces is not None:
            self.data.xfrc_applied[self._forces] = 0.0
        obs, info = self.env.reset(seed=seed, options=options)
        return self._observe(obs), info

    def _observe(self, obs: Any) -> Any:
        noise = self.spec_.observation_noise
        if isinstance(obs, dict):
            obs = dict(obs)
            key = self.spec_.observation_key
            obs[key] = self._noisy(obs[key], noise.per_step)
            if "critic" in obs and self.spec_.parameters:
                obs["critic"] = np.concatenate([obs["critic"], self.draws]).astype(np.float32)
            return obs
        return self._noisy(obs, noise.per_step)

    def _noisy(self, values: np.ndarray, per_step: float) -> np.ndarray:
        if not per_step and not self.spec_.observation_noise.per_episode:
            return values
        return (values + self._obs_offset + self._rng.normal(0.0, per_step, values.shape)).astype(values.dtype)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        noise = self.spec_.action_noise
        action = np.asarray(action, dtype=np.float64) + self._act_offset
        action += self._rng.normal(0.0, noise.per_step, action.shape)
        space = self.env.action_space
        self._latency.append(np.clip(action, space.low, space.high))
        self._apply_forces()
        obs, reward, terminated, truncated, info = self.env.step(self._latency[0])
        return self._observe(obs), reward, terminated, truncated, info

    def _apply_forces(self) -> None:
        forces = self.spec_.random_forces
        if forces is None:
            return
        self._push *= forces.decay
        if self._rng.random() < forces.probability:
            weight = self.model.body_mass[self._forces] * np.linalg.norm(self.model.opt.gravity)
            self._push[:3] = self._rng.normal(0.0, forces.scale * weight, 3)
        self.data.xfrc_applied[self._forces] = self._push


def _preset_or_mapping(value: Any) -> Any:
    """A preset's name becomes the preset; a mapping is validated as a Randomization."""
    return resolve_randomization(value) if isinstance(value, str) else value


RANDOMIZATION_WRAPPER = EnvWrapper(
    wrap=lambda env, randomization, actor: DomainRandomization(env, randomization),
    schema=Annotated[Randomization, BeforeValidator(_preset_or_mapping)],
    order=10,
)

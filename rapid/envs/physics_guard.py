"""The physics guard: diverged MuJoCo physics ends the episode instead of feeding training.

When a MuJoCo simulation blows up, MuJoCo resets the state and only counts a warning
("Nan, Inf or huge value in QACC ... The simulation is unstable"). The env then goes on from
its initial pose, which in many tasks (a balanced pendulum) scores the maximum reward at every
step. The guard watches MuJoCo's instability warnings; on divergence it
truncates the episode (not the policy's doing) with no reward, and says `sim_unstable` in the
info, which rapid counts per iteration as env_runners/sim_unstable.

It wraps every env that exposes a MuJoCo `model` and `data` (Gymnasium's and PettingZoo's
alike, `env.unwrapped.model`), on by default; `env_config: {physics_guard: null}` turns it off.
"""

from typing import Any

import gymnasium as gym
import mujoco
from pettingzoo.utils.env import ParallelEnv
from pettingzoo.utils.wrappers import BaseParallelWrapper

from rapid.platform.episode_metrics import EpisodeMetric
from rapid.platform.plugins import EnvWrapper, Strict

SIM_UNSTABLE = "sim_unstable"
# MuJoCo's warnings for a diverged state (it resets the state when it raises them).
INSTABILITY_WARNINGS = (mujoco.mjtWarning.mjWARN_BADQPOS, mujoco.mjtWarning.mjWARN_BADQVEL, mujoco.mjtWarning.mjWARN_BADQACC)


def mujoco_parts(env: Any) -> tuple[mujoco.MjModel, mujoco.MjData] | None:
    """The MjModel and MjData an env steps (on the env or its `unwrapped`), or None for other envs."""
    base = getattr(env, "unwrapped", env)
    model, data = getattr(base, "model", None), getattr(base, "data", None)
    if isinstance(model, mujoco.MjModel) and isinstance(data, mujoco.MjData):
        return model, data
    return None


class Divergence:
    """Whether the simulation diverged since the last `mark()`: a new instability warning. MuJoCo
    raises one for any NaN, infinite or huge (> 1e10) position, velocity or acceleration, so its
    counters are the whole check (a few attribute reads per step, no array scans)."""

    def __init__(self, data: mujoco.MjData) -> None:
        self._stats = tuple(data.warning[int(kind)] for kind in INSTABILITY_WARNINGS)
        self._seen = 0

    def _warnings(self) -> int:
        return sum([stat.number for stat in self._stats])

    def mark(self) -> None:
        self._seen = self._warnings()

    def diverged(self) -> bool:
        count = self._warnings()
        new, self._seen = count != self._seen, count
        return new


class PhysicsGuard(gym.Wrapper):
    """A Gymnasium MuJoCo env whose diverged steps end the episode: last good observation, reward 0, truncated."""

    def __init__(self, env: gym.Env, data: mujoco.MjData) -> None:
        super().__init__(env)
        self._divergence = Divergence(data)
        self._last_obs: Any = None

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self._divergence.mark()
        self._last_obs = obs
        return obs, {**info, SIM_UNSTABLE: False}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        try:
            obs, reward, terminated, truncated, info = self.env.step(action)
        except mujoco.FatalError:
            return self._last_obs, 0.0, False, True, {SIM_UNSTABLE: True}
        if self._divergence.diverged() or info.get(SIM_UNSTABLE):
            info[SIM_UNSTABLE] = True
            return self._last_obs, 0.0, False, True, info
        self._last_obs = obs
        info[SIM_UNSTABLE] = False
        return obs, reward, terminated, truncated, info


class ParallelPhysicsGuard(BaseParallelWrapper):
    """A PettingZoo MuJoCo env whose diverged steps end the episode for every agent, with no reward."""

    def __init__(self, env: ParallelEnv, data: mujoco.MjData) -> None:
        super().__init__(env)
        self._divergence = Divergence(data)
        self._last_obs: dict[Any, Any] = {}
        # Its own list: after a divergence the episode is over here, whatever the env says.
        self.agents = list(getattr(env, "agents", env.possible_agents))

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        observations, infos = self.env.reset(seed=seed, options=options)
        self._divergence.mark()
        self.agents = list(self.env.agents)
        self._last_obs = dict(observations)
        return observations, {agent: {**infos.get(agent, {}), SIM_UNSTABLE: False} for agent in observations}

    def step(self, actions: dict[Any, Any]) -> tuple[dict, dict, dict, dict, dict]:
        acting = list(self.agents)
        try:
            observations, rewards, terminated, truncated, infos = self.env.step(actions)
            unstable = self._divergence.diverged()
        except mujoco.FatalError:
            observations, rewards, terminated, truncated, infos, unstable = {}, {}, {}, {}, {}, True
        if unstable:
            self.agents = []
            return (
                {agent: self._last_obs[agent] for agent in acting},
                {agent: 0.0 for agent in acting},
                {agent: False for agent in acting},
                {agent: True for agent in acting},
                {agent: {**infos.get(agent, {}), SIM_UNSTABLE: True} for agent in acting},
            )
        self.agents = list(self.env.agents)
        self._last_obs.update(observations)
        for info in infos.values():
            info[SIM_UNSTABLE] = False
        return observations, rewards, terminated, truncated, infos


class PhysicsGuardSettings(Strict):
    """No settings: the guard is on for every MuJoCo env; `physics_guard: null` turns it off."""


def guard(env: Any, settings: PhysicsGuardSettings, actor: Any) -> Any:
    """The env guarded when it steps MuJoCo physics; any other env as it is."""
    parts = mujoco_parts(env)
    if parts is None:
        return env
    return ParallelPhysicsGuard(env, parts[1]) if isinstance(env, ParallelEnv) else PhysicsGuard(env, parts[1])


PHYSICS_GUARD = EnvWrapper(
    wrap=guard,
    schema=PhysicsGuardSettings,
    order=0,
    default={},
    episode_metrics={
        SIM_UNSTABLE: EpisodeMetric(
            SIM_UNSTABLE, "sum", warn_share=0.5,
            meaning="most episodes ended on diverged physics; what the policy learnt is not worth much "
            "(check the randomization ranges, the timestep and the actuator limits)",
        )
    },
)

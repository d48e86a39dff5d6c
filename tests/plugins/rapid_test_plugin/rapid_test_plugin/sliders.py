"""Two agents push one slider each, in one MuJoCo model: a PettingZoo MuJoCo env in miniature,
for rapid's physics-guard tests (a large `gear` makes its physics diverge at once)."""

import mujoco
import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

SLIDERS = """
<mujoco><worldbody>
  <body name="a"><joint name="a" type="slide" axis="1 0 0"/><geom size=".1" mass="1"/></body>
  <body name="b" pos="0 1 0"><joint name="b" type="slide" axis="1 0 0"/><geom size=".1" mass="1"/></body>
</worldbody><actuator><motor joint="a" gear="1"/><motor joint="b" gear="1"/></actuator></mujoco>
"""


class TwoSliders(ParallelEnv):
    """Two agents push one slider each, in one MuJoCo model: a PettingZoo MuJoCo env in miniature."""

    metadata = {"name": "two_sliders"}

    def __init__(self, gear: float = 1.0) -> None:
        self.model = mujoco.MjModel.from_xml_string(SLIDERS)
        self.model.actuator_gear[:, 0] = gear
        self.data = mujoco.MjData(self.model)
        self.possible_agents = ["a", "b"]
        self.agents: list[str] = []
        self.observation_spaces = {a: spaces.Box(-np.inf, np.inf, (2,), np.float64) for a in self.possible_agents}
        self.action_spaces = {a: spaces.Box(-1.0, 1.0, (1,), np.float32) for a in self.possible_agents}

    def observation_space(self, agent: str) -> spaces.Box:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Box:
        return self.action_spaces[agent]

    def _obs(self) -> dict[str, np.ndarray]:
        return {a: np.array([self.data.qpos[i], self.data.qvel[i]]) for i, a in enumerate(self.agents)}

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        mujoco.mj_resetData(self.model, self.data)
        self.agents = list(self.possible_agents)
        return self._obs(), {a: {} for a in self.agents}

    def step(self, actions: dict) -> tuple[dict, dict, dict, dict, dict]:
        self.data.ctrl[:] = [float(actions.get(a, [0.0])[0]) for a in self.possible_agents]
        mujoco.mj_step(self.model, self.data)
        observations = self._obs()
        rewards = {a: 1.0 for a in self.agents}
        done = {a: False for a in self.agents}
        return observations, rewards, done, dict(done), {a: {} for a in self.agents}

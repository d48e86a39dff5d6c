"""Simon Says (Kanitscheider et al. 2021): each episode names one item to obtain; reward 1 when
the agent has it, and the episode ends there (or at `max_steps`, or when the game ends it).

Observation (a Dict): `image` (H, W, 3) uint8, `target` a one-hot over the env's tasks,
`inventory` the backend's counts. A wrapper picks the task of the next episode with
`reset(options={"task": name})` (the curriculum does); without one the env draws it uniformly.
Every step's info lists `obtained` (the items obtained this episode, whatever the target) and
`new_items` (those first obtained at this step); the last info of an episode carries `success`
and `success/<task>`, so success is logged per target item.

`score_protocol: true` is Crafter's published evaluation instead: a standard episode (until
death or the backend's length), the target moving on to the next task not yet obtained each
time the agent obtains it, and the last info flagging every item as `achievement/<item>` (1 if
obtained at any time in the episode), from which the Crafter score is computed.
"""

from typing import Any, Literal

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from pydantic import Field

from rapid.envs.minecraft.backend import Backend, Frame
from rapid.platform.errors import close_names
from rapid.platform.plugins import SettingsError, Strict

SUCCESS, TASK_OPTION = "success", "task"


def success_key(task: str) -> str:
    return f"{SUCCESS}/{task}"


def achievement_key(item: str) -> str:
    return f"achievement/{item}"


class SimonSaysConfig(Strict):
    """The task env's env_config keys, whatever the backend."""

    tasks: list[str] | None = Field(None, min_length=1, description="the items a task may name (null: every item of the backend)")
    max_steps: int = Field(1000, ge=1, description="steps after which a task episode is cut short")
    score_protocol: bool = Field(False, description="Crafter's evaluation: standard episodes, the target moving through tasks")
    render_mode: Literal["rgb_array"] | None = Field(None, description="render() returns the game's frames either way")


def resolve_tasks(tasks: list[str] | None, items: tuple[str, ...]) -> tuple[str, ...]:
    """The env's tasks in order; a SettingsError names an unknown item (with the close names) or a repeat."""
    if tasks is None:
        return items
    found = []
    for i, task in enumerate(tasks):
        if task not in items:
            near = close_names(task, items)
            found.append((("env_config", "tasks", i), f"unknown item '{task}'; " +
                          (f"close names: {', '.join(near)}" if near else f"the items are: {', '.join(items)}")))
        elif task in tasks[:i]:
            found.append((("env_config", "tasks", i), f"'{task}' is listed twice"))
    if found:
        raise SettingsError(found)
    return tuple(tasks)


class SimonSaysEnv(gym.Env):
    """The goal-conditioned task env over any backend (backend.py)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 15}

    def __init__(self, backend: Backend, config: SimonSaysConfig) -> None:
        self.backend = backend
        self.config = config
        self.tasks = resolve_tasks(config.tasks, backend.items)
        self.render_mode = "rgb_array"
        self.action_space = backend.action_space
        self.observation_space = spaces.Dict({
            "image": spaces.Box(0, 255, backend.image_shape, np.uint8),
            "target": spaces.Box(0.0, 1.0, (len(self.tasks),), np.float32),
            "inventory": spaces.Box(0.0, np.inf, (len(backend.inventory_items),), np.float32),
        })
        self._one_hot = np.eye(len(self.tasks), dtype=np.float32)
        self._one_hot.flags.writeable = False  # handed out in every observation
        self.task = self.tasks[0]
        self._obtained: frozenset[str] = frozenset()
        self._steps = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        asked = (options or {}).get(TASK_OPTION)
        if asked is not None and asked not in self.tasks:
            raise ValueError(f"task '{asked}' is not one of this env's tasks: {', '.join(self.tasks)}")
        if self.config.score_protocol:
            self.task = self.tasks[0]
        else:
            self.task = asked if asked is not None else self.tasks[self.np_random.integers(len(self.tasks))]
        frame = self.backend.reset(seed)
        self._obtained, self._steps = frame.obtained, 0
        return self._observe(frame), {"task": self.task, "obtained": sorted(self._obtained), "new_items": []}

    def step(self, action: Any) -> tuple[dict, float, bool, bool, dict]:
        frame = self.backend.step(action)
        self._steps += 1
        new = frame.obtained - self._obtained
        self._obtained = frame.obtained
        task, reward, terminated = self.task, 0.0, frame.over
        if task in new:
            reward = 1.0
            if self.config.score_protocol:
                self.task = next((t for t in self.tasks if t not in self._obtained), task)
            else:
                terminated = True
        limit = not self.config.score_protocol and self._steps >= self.config.max_steps
        truncated = not terminated and (frame.cut or limit)
        info: dict[str, Any] = {"task": task, "obtained": sorted(self._obtained), "new_items": sorted(new)}
        if terminated or truncated:
            if self.config.score_protocol:
                info.update((achievement_key(item), float(item in self._obtained)) for item in self.backend.items)
            else:
                info[SUCCESS] = info[success_key(task)] = float(task in self._obtained)
        return self._observe(frame), reward, terminated, truncated, info

    @property
    def task(self) -> str:
        """The present target; its one-hot is looked up once, when it changes, not at every step."""
        return self._task

    @task.setter
    def task(self, name: str) -> None:
        self._task, self._target = name, self._one_hot[self.tasks.index(name)]

    def render(self) -> np.ndarray:
        return self.backend.render()

    def close(self) -> None:
        self.backend.close()

    def _observe(self, frame: Frame) -> dict[str, np.ndarray]:
        return {"image": frame.image, "target": self._target, "inventory": frame.inventory}

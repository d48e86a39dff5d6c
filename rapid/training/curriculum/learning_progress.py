"""The learning-progress curriculum of Kanitscheider et al. 2021 ("Simon Says"), as plain Python.

Per task, two exponential moving averages of episode success, a fast one and a slow one. Their
gap, after the reweighting f(p) = p(1 - p0) / (p + p0(1 - 2p)) that stretches low success
rates (p0 = 0.1), is the task's learning progress |f(fast) - f(slow)|: large while success is
moving, up or down, and near 0 for a task that is mastered or hopeless. Sampling weights are the
sigmoid of the z-scored progress over the tasks that have progressed or ever succeeded (the
others only get the uniform share), normalized, then mixed with a uniform share so that no
task is starved.

The EMAs move once per episode of their task, not per report: a task nobody drew in a while
keeps its estimate (the syllabus-rl implementation instead counts an interval without episodes
of a task as a 0 success rate for it, which drags a rarely drawn task's estimate down).
"""

from collections import deque
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from rapid.platform.plugins import Strict
from rapid.platform.schema_errors import KeyProblem


class CurriculumSettings(Strict):
    """env_config key `curriculum`: a central actor picks every episode's task."""

    sampling: Literal["learning_progress", "uniform"] = Field(
        "learning_progress", description="learning_progress (the paper's) or uniform (the baseline; statistics still kept)")
    fast_alpha: float = Field(0.1, gt=0, le=1, description="the fast success EMA's step per episode of a task")
    slow_alpha: float = Field(0.02, gt=0, le=1, description="the slow success EMA's step (smaller than fast_alpha)")
    p0: float = Field(0.1, gt=0, lt=0.5, description="the reweighting's p0: success rates below it are stretched")
    uniform_share: float = Field(0.2, ge=0, le=1, description="share of episodes whose task is drawn uniformly")
    mastery: float = Field(0.5, ge=0, le=1, description="a task is mastered at this success over its last `window` episodes")
    window: int = Field(100, ge=1, description="the episodes of a task its success rate is measured over")
    min_episodes: int = Field(10, ge=1, description="episodes of a task before it can count as mastered")
    report_every: int = Field(8, ge=1, description="episodes an env collects before it sends their results to the actor")

    @model_validator(mode="after")
    def _slow_below_fast(self) -> "CurriculumSettings":
        if self.slow_alpha >= self.fast_alpha:
            raise KeyProblem("slow_alpha", f"{self.slow_alpha} must be smaller than fast_alpha={self.fast_alpha}")
        return self


def reweight(p: np.ndarray, p0: float) -> np.ndarray:
    """f(p) = p(1 - p0) / (p + p0(1 - 2p)): f(0) = 0, f(p0) = 0.5, f(1) = 1."""
    return p * (1.0 - p0) / (p + p0 * (1.0 - 2.0 * p))


class LearningProgress:
    """Every task's success statistics and the sampling distribution they give."""

    def __init__(self, tasks: tuple[str, ...], settings: CurriculumSettings) -> None:
        self.tasks = tuple(tasks)
        self.settings = settings
        self.fast = np.zeros(len(tasks))
        self.slow = np.zeros(len(tasks))
        self.ever = np.zeros(len(tasks), dtype=bool)
        self.recent = [deque(maxlen=settings.window) for _ in tasks]
        self.episodes = 0

    def report(self, results: list[tuple[str, bool]]) -> None:
        """Episode results, (task, success) each, in the order they ended."""
        s = self.settings
        for task, success in results:
            i = self.tasks.index(task)
            self.fast[i] += s.fast_alpha * (float(success) - self.fast[i])
            self.slow[i] += s.slow_alpha * (float(success) - self.slow[i])
            self.ever[i] |= bool(success)
            self.recent[i].append(float(success))
        self.episodes += len(results)

    def progress(self) -> np.ndarray:
        return np.abs(reweight(self.fast, self.settings.p0) - reweight(self.slow, self.settings.p0))

    def success_rates(self) -> np.ndarray:
        """Each task's success over its last `window` episodes (0 before its first)."""
        return np.array([sum(r) / len(r) if r else 0.0 for r in self.recent])

    def mastered(self) -> np.ndarray:
        enough = np.array([len(r) >= min(self.settings.min_episodes, self.settings.window) for r in self.recent])
        return enough & (self.success_rates() >= self.settings.mastery)

    def distribution(self) -> np.ndarray:
        n = len(self.tasks)
        uniform = np.full(n, 1.0 / n)
        progress = self.progress()
        pool = (progress > 0) | self.ever
        if self.settings.sampling == "uniform" or not pool.any():
            return uniform
        chosen = progress[pool]
        spread = chosen.std()
        z = (chosen - chosen.mean()) / (spread if spread > 0 else 1.0)
        weights = np.zeros(n)
        weights[pool] = 1.0 / (1.0 + np.exp(-z))
        u = self.settings.uniform_share
        return (1.0 - u) * weights / weights.sum() + u * uniform

    def metrics(self) -> dict[str, float]:
        figures = {"curriculum/episodes": float(self.episodes), "curriculum/mastered": float(self.mastered().sum()),
                   "curriculum/mean_success": float(self.success_rates().mean())}
        for name, values in (("probability", self.distribution()), ("success", self.success_rates()),
                             ("learning_progress", self.progress())):
            figures.update((f"curriculum/{name}/{task}", float(v)) for task, v in zip(self.tasks, values, strict=True))
        return figures

    def get_state(self) -> dict[str, Any]:
        return {"tasks": self.tasks, "fast": self.fast.tolist(), "slow": self.slow.tolist(), "ever": self.ever.tolist(),
                "recent": [list(r) for r in self.recent], "episodes": self.episodes}

    def set_state(self, state: dict[str, Any]) -> None:
        if tuple(state["tasks"]) != self.tasks:
            raise ValueError(f"the checkpoint's curriculum has the tasks {list(state['tasks'])}, this job {list(self.tasks)}")
        self.fast, self.slow = np.array(state["fast"]), np.array(state["slow"])
        self.ever = np.array(state["ever"], dtype=bool)
        for queue, values in zip(self.recent, state["recent"], strict=True):
            queue.clear()
            queue.extend(values)
        self.episodes = state["episodes"]

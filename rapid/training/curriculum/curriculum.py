"""The `curriculum` env_config key: one central actor per run picks every episode's task.

The actor (CurriculumServer) holds the learning-progress statistics (learning_progress.py) of
the whole run. Each env (CurriculumClient) takes the sampling distribution from it once, when
it starts (a resumed run's envs start from the restored one), draws each episode's task from its
copy, and sends finished episodes' results in batches of `report_every`; the actor answers with
the new distribution and success rates, which the env picks up at a later reset: after it
starts, an env never waits on the actor. The actor's state is saved with
every checkpoint and restored on `--resume`.

Any env fits that lists its `tasks`, takes `reset(options={"task": name})` and reports `task`
and `success` in the info of an episode's last step, as the Simon Says env does.

Not syllabus-rl's OnlineLearningProgress, whose scheme this follows: its sampler fails on
numpy 2 (`task_dist != []` on an array), its default task names cannot be pickled, importing
it starts a shared-memory segment and needs matplotlib it does not declare, and it treats a
task not drawn in an update interval as failed (learning_progress.py).
"""

from typing import Any

import gymnasium as gym
import numpy as np
import ray

from rapid.platform.central_state import StateHolder
from rapid.platform.env_stack import make_env
from rapid.platform.plugins import EnvWrapper
from rapid.training.curriculum.learning_progress import CurriculumSettings, LearningProgress


class CurriculumServer(StateHolder):
    """The run's central curriculum actor."""

    def __init__(self, tasks: tuple[str, ...], settings: dict[str, Any]) -> None:
        self.state = LearningProgress(tasks, CurriculumSettings.model_validate(settings))

    def report(self, results: list[tuple[str, bool]]) -> tuple[list[float], list[float]]:
        """Record finished episodes; the new sampling distribution and success rates, in task order."""
        self.state.report(results)
        return self.snapshot()

    def snapshot(self) -> tuple[list[float], list[float]]:
        """The sampling distribution and success rates, in task order."""
        return self.state.distribution().tolist(), self.state.success_rates().tolist()


class CurriculumClient(gym.Wrapper):
    """Draws each episode's task from the run's curriculum and reports how the episode went.

    Without a central actor (preflight, `rapid eval`) it draws uniformly and reports nothing.
    """

    def __init__(self, env: gym.Env, settings: CurriculumSettings, server: Any = None) -> None:
        super().__init__(env)
        self.settings = settings
        self.server = server
        self.tasks: tuple[str, ...] = tuple(env.get_wrapper_attr("tasks"))
        self.probabilities = np.full(len(self.tasks), 1.0 / len(self.tasks))
        self.success_rates: dict[str, float] = dict.fromkeys(self.tasks, 0.0)
        self._pending: list[tuple[str, bool]] = []
        self._in_flight: Any = None
        self._rng = np.random.default_rng()
        if server is not None:  # the run's distribution as it stands: a resumed run's, a restarted EnvRunner's
            self._adopt(*ray.get(server.snapshot.remote()))

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        """A task the caller names (`options={"task": ...}`) is kept; otherwise one is drawn."""
        if seed is not None:
            # Its own stream, apart from the env's `np_random` that the same seed starts.
            self._rng = np.random.default_rng([seed, 1])
        self._take_answer()
        if (options or {}).get("task") is not None:
            return self.env.reset(seed=seed, options=options)
        task = self.tasks[self._rng.choice(len(self.tasks), p=self.probabilities)]
        return self.env.reset(seed=seed, options={**(options or {}), "task": task})

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        if (terminated or truncated) and "success" in info:
            self._pending.append((info["task"], bool(info["success"])))
            self._send()
        return obs, reward, terminated, truncated, info

    def _send(self) -> None:
        """A full batch goes out unless the last one is still unanswered (then the batch grows)."""
        if self.server is None or len(self._pending) < self.settings.report_every:
            return
        self._take_answer()
        if self._in_flight is None:
            self._in_flight, self._pending = self.server.report.remote(self._pending), []

    def _take_answer(self) -> None:
        if self._in_flight is None or not ray.wait([self._in_flight], timeout=0)[0]:
            return
        answer, self._in_flight = ray.get(self._in_flight), None
        self._adopt(*answer)

    def _adopt(self, probabilities: list[float], rates: list[float]) -> None:
        self.probabilities = np.asarray(probabilities)
        self.success_rates = dict(zip(self.tasks, rates, strict=True))


def start_server(settings: CurriculumSettings, job: Any, name: str) -> Any:
    """The run's curriculum actor over the job env's tasks (no CPU: it only bookkeeps)."""
    env = make_env(job.env, job.env_config)
    tasks = tuple(env.get_wrapper_attr("tasks"))
    env.close()
    server = ray.remote(CurriculumServer).options(name=name, get_if_exists=True, num_cpus=0)
    return server.remote(tasks, settings.model_dump())


CURRICULUM_WRAPPER = EnvWrapper(wrap=CurriculumClient, schema=CurriculumSettings, order=50, central_actor=start_server)

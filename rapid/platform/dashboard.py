"""A run's figures as `ray.util.metrics` gauges named rapid_*: the Ray dashboard and Prometheus show them.

The gauges are set by a Tune callback on the driver, from every trial's results, so every
trainable publishes them (RLlib jobs, `cnn`, curve replay, a plug-in's own) without code of
its own; Ray exports a driver's metrics like an actor's.
"""

import fnmatch
import re
from typing import Any

from ray.tune import Callback
from ray.util.metrics import Gauge

from rapid.platform.figures import is_number

# Figures every trial publishes when its results have them (a job adds its headline metric and
# figures): an RLlib run's steps and returns, and any trial's progress.
PUBLISHED = ("env_steps", "env_steps_per_s", "episode_return_mean", "episode_len_mean", "training_iteration", "time_total_s")


def gauge_name(figure: str) -> str:
    """`env_runners/consecutive_successes` -> `rapid_env_runners_consecutive_successes`."""
    return "rapid_" + re.sub(r"[^A-Za-z0-9_]", "_", figure)


class RunGauges(Callback):
    """One gauge per published figure, tagged with `job_name` and `trial` so runs and trials can be told apart
    (not `job`: Prometheus keeps that label for its scrape job and renames a metric's own to `exported_job`).

    `figures` may hold globs (`league/win_rate/*`): a gauge is made for each matching figure the
    first time a result has it.
    """

    def __init__(self, job: str, figures: tuple[str, ...]) -> None:
        self.job, self.figures = job, figures
        self.patterns = tuple(dict.fromkeys(PUBLISHED + figures))
        self._gauges: dict[str, Gauge] = {}

    def _gauge(self, figure: str) -> Gauge:
        if figure not in self._gauges:
            self._gauges[figure] = Gauge(
                gauge_name(figure), description=f"rapid figure '{figure}'", tag_keys=("job_name", "trial")
            )
        return self._gauges[figure]

    def publish(self, trial: str, row: dict[str, Any]) -> None:
        """Set the gauge of every published figure in the row that is a number."""
        tags = {"job_name": self.job, "trial": trial}
        for figure, value in row.items():
            if is_number(value) and any(fnmatch.fnmatchcase(figure, p) for p in self.patterns):
                self._gauge(figure).set(value, tags=tags)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        self.publish(trial.trial_id, result)

    def __reduce__(self) -> tuple:
        # Tune pickles its callbacks into tuner.pkl; gauges are rebuilt in the resumed driver.
        return (RunGauges, (self.job, self.figures))

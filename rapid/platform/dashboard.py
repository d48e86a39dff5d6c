"""A run's figures as `ray.util.metrics` gauges named rapid_*: the Ray dashboard and Prometheus show them."""

import fnmatch
import re

from ray.util.metrics import Gauge

from rapid.platform.figures import is_number

# Figures every run publishes; a job adds its headline metric.
PUBLISHED = ("env_steps", "env_steps_per_s", "episode_return_mean", "episode_len_mean")


def gauge_name(figure: str) -> str:
    """`env_runners/consecutive_successes` -> `rapid_env_runners_consecutive_successes`."""
    return "rapid_" + re.sub(r"[^A-Za-z0-9_]", "_", figure)


class RunGauges:
    """Gauges for one trial, tagged with its job and trial so runs can be told apart.

    `figures` may hold globs (`league/win_rate/*`): a gauge is made for each matching figure the
    first time a row has it.
    """

    def __init__(self, job: str, trial: str, figures: tuple[str, ...]) -> None:
        self.tags = {"job": job, "trial": trial}
        self.patterns = tuple(dict.fromkeys(PUBLISHED + figures))
        self._gauges: dict[str, Gauge] = {}

    def _gauge(self, figure: str) -> Gauge:
        if figure not in self._gauges:
            gauge = Gauge(gauge_name(figure), description=f"rapid figure '{figure}'", tag_keys=tuple(self.tags))
            gauge.set_default_tags(self.tags)
            self._gauges[figure] = gauge
        return self._gauges[figure]

    def publish(self, row: dict[str, float]) -> None:
        """Set the gauge of every published figure in the row that is a number."""
        for figure, value in row.items():
            if is_number(value) and any(fnmatch.fnmatchcase(figure, p) for p in self.patterns):
                self._gauge(figure).set(value)

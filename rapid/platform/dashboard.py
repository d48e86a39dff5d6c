"""A run's figures as `ray.util.metrics` gauges named rapid_*: the Ray dashboard and Prometheus show them."""

import math
import re

from ray.util.metrics import Gauge

# Figures every run publishes; a job adds its headline metric.
PUBLISHED = ("env_steps", "env_steps_per_s", "episode_return_mean", "episode_len_mean")


def gauge_name(figure: str) -> str:
    """`env_runners/consecutive_successes` -> `rapid_env_runners_consecutive_successes`."""
    return "rapid_" + re.sub(r"[^A-Za-z0-9_]", "_", figure)


class RunGauges:
    """Gauges for one trial, tagged with its job and trial so runs can be told apart."""

    def __init__(self, job: str, trial: str, figures: tuple[str, ...]) -> None:
        self._gauges = {
            f: Gauge(gauge_name(f), description=f"rapid figure '{f}'", tag_keys=("job", "trial"))
            for f in dict.fromkeys(PUBLISHED + figures)
        }
        for gauge in self._gauges.values():
            gauge.set_default_tags({"job": job, "trial": trial})

    def publish(self, row: dict[str, float]) -> None:
        """Set every gauge whose figure is in the row and is a number."""
        for figure, gauge in self._gauges.items():
            value = row.get(figure)
            if value is not None and not math.isnan(value):
                gauge.set(value)

"""The Tune callback that keeps a run's folder current: a part of metrics.parquet/ every few seconds, plots every 30."""

import json
import math
import statistics
import time
from typing import Any

from ray.tune import Callback

from rapid.platform.figures import is_number, row_from_tune_result
from rapid.platform.plots import GROUP, GroupBy, group_trials, run_plots
from rapid.platform.run_dir import PLOTS, SUMMARY, CurrentRows, RunDir

PLOT_EVERY_S = 30.0  # matplotlib takes CPU from the run on a laptop
# A part file of metrics.parquet/ per flush: this often, and at every checkpoint and the end.
WRITE_EVERY_S = 5.0
# Plotting grows with the rows (0.8 s for 10,000 rows on a laptop core): it waits at least this
# many times its last duration, so a long run spends under 5% of a core on it.
COST_FACTOR = 20.0


class RunRecorder(Callback):
    """Adds a row per trial iteration, flushed as part files, and redraws plots; on resume it
    continues the same rows."""

    def __init__(self, run: RunDir, job: str, metric: str, figures: tuple[str, ...] = (), group_by: GroupBy = None) -> None:
        self.run, self.job, self.metric, self.figures, self.group_by = run, job, metric, figures, group_by
        self.current = CurrentRows(run.read_rows())
        self._unwritten: list[dict[str, Any]] = []
        self._plotted_at = self._written_at = 0.0
        self._plot_every = PLOT_EVERY_S

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        row = row_from_tune_result(result)
        if self.group_by is not None:
            row[GROUP] = group_label(result.get("config", {}), self.group_by)
        self.current.add(row)
        self._unwritten.append(row)
        if time.monotonic() - self._written_at > WRITE_EVERY_S:
            self.write()
        if time.monotonic() - self._plotted_at > self._plot_every:
            self.draw()

    def on_checkpoint(self, iteration: int, trials: list, trial: Any, checkpoint: Any, **info: Any) -> None:
        self.write()  # every row up to a checkpoint is on disk: a resumed run repeats only what follows

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self.write()

    def write(self) -> None:
        """The rows since the last flush, as one more part file (readers replay `add_row` over them)."""
        self.run.append_rows(self._unwritten)
        self._unwritten = []
        self._written_at = time.monotonic()

    def draw(self) -> None:
        start = time.monotonic()
        draw_plots(self.run, self.current.rows, self.job, self.metric, self.figures, self.group_by)
        self._plotted_at = time.monotonic()
        self._plot_every = max(PLOT_EVERY_S, COST_FACTOR * (self._plotted_at - start))

    def __reduce__(self) -> tuple:
        # Tune pickles its callbacks into tuner.pkl; a resumed run rebuilds this one from the folder.
        return (RunRecorder, (self.run, self.job, self.metric, self.figures, self.group_by))


def group_label(config: dict[str, Any], group_by: list[str]) -> str:
    """`key=value` of a trial's config (`training.lr=0.001`), comma-joined for several keys; an RLlib
    sweep's trial keeps its job under "job"."""
    job: Any = config["job"] if isinstance(config.get("job"), dict) else config
    labels = []
    for key in group_by:
        node = job
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        labels.append(f"{key}={json.dumps(node, sort_keys=True, default=str)}")
    return ", ".join(labels)


def group_summary(rows: list[dict[str, Any]], metric: str, mode: str = "max") -> dict[str, dict[str, float]]:
    """Per group: how many trials, and the mean, min and max of the trials' best values (when any reported one)."""
    summary: dict[str, dict[str, float]] = {}
    for label, trial_rows in group_trials(rows).items():
        values = [v for v in (best_value(r, metric, mode) for r in trial_rows.values()) if not math.isnan(v)]
        summary[label] = {"trials": len(trial_rows)}
        if values:  # trials that never reported the metric count, but have no value to average
            summary[label].update(mean=statistics.fmean(values), min=min(values), max=max(values))
    return summary


def draw_plots(
    run: RunDir, rows: list[dict[str, Any]], job: str, metric: str, figures: tuple[str, ...] = (), group_by: GroupBy = None
) -> None:
    """Redraw plots/*.png from the rows so far."""
    if rows:
        for name, png in run_plots(rows, job, metric, figures, group_by).items():
            run.write_bytes(f"{PLOTS}/{name}", png)


def newest_value(rows: list[dict[str, Any]], metric: str) -> float:
    """The metric in the newest row that has it (NaN when none): an evaluation metric is only in
    the rows of iterations that evaluated."""
    return next((r[metric] for r in reversed(rows) if is_number(r.get(metric))), math.nan)


def best_value(rows: list[dict[str, Any]], metric: str, mode: str = "max") -> float:
    """The best value a metric reached over all rows (NaN when it never appeared)."""
    values = [r[metric] for r in rows if is_number(r.get(metric))]
    if not values:
        return math.nan
    return max(values) if mode == "max" else min(values)


def write_summary(run: RunDir, summary: dict[str, Any]) -> None:
    run.write_bytes(SUMMARY, json.dumps(summary, indent=2, default=str).encode())


def read_summary(run: RunDir) -> dict[str, Any] | None:
    return json.loads(run.read_bytes(SUMMARY)) if run.exists(SUMMARY) else None

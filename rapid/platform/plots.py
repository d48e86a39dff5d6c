"""Learning curves as PNG: a run's own plots/ (redrawn while it trains) and `rapid plot` overlays."""

import fnmatch
import io
from collections import defaultdict
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

from rapid.platform.figures import is_number  # noqa: E402

Rows = list[dict[str, Any]]
# The column that names a sweep trial's group (`training.lr=0.001`) when the sweep has `group_by`.
GROUP = "group"


def x_axis(rows: Rows) -> str:
    """Env steps when the runs sample an env, else training iterations."""
    has_steps = any(is_number(r.get("env_steps")) for r in rows)
    return "env_steps" if has_steps else "iteration"


def _series(rows: Rows, x: str, y: str) -> tuple[list[float], list[float]]:
    points = [(r[x], r[y]) for r in rows if is_number(r.get(x)) and is_number(r.get(y))]
    points.sort()
    return [p[0] for p in points], [p[1] for p in points]


def figure_png(fig: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def overlay(curves: dict[str, Rows], metric: str, title: str) -> bytes:
    """One line per labelled set of rows (a trial, a run); the return gets its min-max band."""
    x = x_axis([r for rows in curves.values() for r in rows])
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, rows in curves.items():
        xs, ys = _series(rows, x, metric)
        (line,) = ax.plot(xs, ys, label=label)
        if metric == "episode_return_mean" and len(curves) <= 3:
            lo_x, lo = _series(rows, x, "episode_return_min")
            _, hi = _series(rows, x, "episode_return_max")
            if lo and len(lo) == len(hi):
                ax.fill_between(lo_x, lo, hi, color=line.get_color(), alpha=0.15, linewidth=0)
    ax.set_xlabel(x.replace("_", " "))
    ax.set_ylabel(metric)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(curves) > 1:
        ax.legend(fontsize="small")
    return figure_png(fig)


def by_trial(rows: Rows) -> dict[str, Rows]:
    grouped: dict[str, Rows] = defaultdict(list)
    for row in rows:
        grouped[str(row.get("trial_id", ""))].append(row)
    return dict(grouped)


def group_trials(rows: Rows) -> dict[str, dict[str, Rows]]:
    """Rows by group label, then by trial."""
    groups: dict[str, Rows] = defaultdict(list)
    for row in rows:
        if isinstance(row.get(GROUP), str):
            groups[row[GROUP]].append(row)
    return {label: by_trial(group) for label, group in sorted(groups.items())}


def spread(rows: Rows, metric: str, title: str) -> bytes:
    """Each group's mean over its trials against the x axis, with the min-max band; trials are
    interpolated onto a shared grid up to where the shortest of them ends."""
    x = x_axis(rows)
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, trials in group_trials(rows).items():
        series = [s for s in (_series(t, x, metric) for t in trials.values()) if len(s[0]) > 1]
        if not series:
            continue
        grid = np.linspace(max(s[0][0] for s in series), min(s[0][-1] for s in series), 100)
        curves = np.stack([np.interp(grid, xs, ys) for xs, ys in series])
        (line,) = ax.plot(grid, curves.mean(0), label=f"{label} ({len(series)} trials)")
        ax.fill_between(grid, curves.min(0), curves.max(0), color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel(x.replace("_", " "))
    ax.set_ylabel(metric)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize="small")
    return figure_png(fig)


# A sweep's `group_by`: the config keys whose values (combinations of values) are the groups, or none.
GroupBy = list[str] | None


def _columns(rows: Rows, pattern: str) -> list[str]:
    return sorted({k for r in rows for k in r if fnmatch.fnmatchcase(k, pattern)})


def run_plots(rows: Rows, job: str, metric: str, figures: tuple[str, ...] = (), group_by: GroupBy = None) -> dict[str, bytes]:
    """plots/*.png for one run: its metric, the return (if different), env steps/s, each of
    `figures` (a glob such as `league/win_rate/*` draws every matching column in one plot) and, for a
    sweep with `group_by`, the mean and spread per group of the metric and of every figure column."""
    trials = by_trial(rows)
    plots = {f"{metric.replace('/', '_')}.png": overlay(trials, metric, f"{job}: {metric}")}
    if group_by is not None:
        by = "+".join(group_by)
        grouped = dict.fromkeys([metric, *(column for pattern in figures for column in _columns(rows, pattern))])
        for column in grouped:
            plots[f"{column.replace('/', '_')}_by_{by}.png"] = spread(rows, column, f"{job}: {column} by {by}")
    if metric != "episode_return_mean" and any("episode_return_mean" in r for r in rows):
        plots["episode_return_mean.png"] = overlay(trials, "episode_return_mean", f"{job}: episode return")
    if any("env_steps_per_s" in r for r in rows):
        plots["env_steps_per_s.png"] = overlay(trials, "env_steps_per_s", f"{job}: env steps/s")
    for pattern in figures:
        columns = _columns(rows, pattern)
        name = pattern.replace("/", "_").replace("*", "all") + ".png"
        if len(columns) == 1:
            plots[name] = overlay(trials, columns[0], f"{job}: {columns[0]}")
        elif columns:
            plots[name] = overlay({c: [{**r, "value": r.get(c)} for r in rows] for c in columns}, "value", f"{job}: {pattern}")
    return plots

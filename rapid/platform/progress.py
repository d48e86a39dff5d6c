"""The live progress line while a run trains, and the short table when it ends."""

import math
import sys
import time
from typing import Any, TextIO

from ray.tune import Callback

from rapid.platform.figures import POLICY_RETURNS, is_number, row_from_tune_result
from rapid.platform.run_health import HEALTH, HEALTH_REASON
from rapid.platform.spec import Stop

# Where stdout is not a terminal (a Ray job's log), print a full line this often instead.
LOG_EVERY_S = 10.0


def fmt_duration(seconds: float) -> str:
    if math.isnan(seconds) or math.isinf(seconds):
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def fmt_number(value: Any) -> str:
    if not is_number(value):
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def eta_seconds(row: dict[str, Any], stop: Stop) -> float:
    """Seconds until the first stop criterion that can be timed (env steps, wall time, iterations)."""
    candidates = []
    steps, rate = row.get("env_steps", math.nan), row.get("env_steps_per_s", math.nan)
    if stop.env_steps and rate and rate > 0 and not math.isnan(steps):
        candidates.append((stop.env_steps - steps) / rate)
    if stop.wall_time_s:
        candidates.append(stop.wall_time_s - row.get("wall_time_s", 0.0))
    if stop.iterations and row.get("iteration_s"):
        candidates.append((stop.iterations - row.get("iteration", 0)) * row["iteration_s"])
    return max(0.0, min(candidates)) if candidates else math.nan


def progress_line(job: str, row: dict[str, Any], stop: Stop, metric: str, policies: tuple[str, ...] = ()) -> str:
    parts = [f"[{job}] iter {row.get('iteration', 0):.0f}"]
    if not math.isnan(row.get("env_steps", math.nan)):
        total = f"/{stop.env_steps:,}" if stop.env_steps else ""
        parts.append(f"{fmt_number(row['env_steps'])}{total} steps")
        parts.append(f"{fmt_number(row.get('env_steps_per_s'))} steps/s")
    parts.append(f"{metric} {fmt_number(row.get(metric))}")
    if policies:
        parts.append("returns " + ", ".join(f"{p} {fmt_number(row.get(f'{POLICY_RETURNS}/{p}'))}" for p in policies))
    parts.append(f"{fmt_duration(row.get('wall_time_s', 0.0))} elapsed, ETA {fmt_duration(eta_seconds(row, stop))}")
    return " | ".join(parts)


class ProgressLine(Callback):
    """One line, rewritten in place on a terminal; a line every LOG_EVERY_S seconds in a log.
    A multi-agent job's line also gives each trained policy's return."""

    def __init__(self, job: str, stop: Stop, metric: str, policies: tuple[str, ...] = (), out: TextIO = sys.stdout) -> None:
        self.job, self.stop, self.metric, self.policies, self.out = job, stop, metric, policies, out
        self.tty = out.isatty()
        self._printed_at = 0.0
        self._width = 0
        # Trial id -> its newest value of the metric: an evaluation metric is only in the rows that evaluated.
        self._newest: dict[str, float] = {}

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        row = {**result, **row_from_tune_result(result)}
        if is_number(row.get(self.metric)):
            self._newest[trial.trial_id] = row[self.metric]
        row[self.metric] = self._newest.get(trial.trial_id, math.nan)
        line = progress_line(self.job, row, self.stop, self.metric, self.policies)
        if result.get(HEALTH):
            # The trial ended itself: the line says so at once, in a terminal and in a log.
            self.out.write(f"\n{line}\n[{self.job}] {result[HEALTH]}: {result.get(HEALTH_REASON)}\n")
            self.out.flush()
            return
        if len(trials) > 1:
            done = sum(t.status in ("TERMINATED", "ERROR") for t in trials)
            line = f"{line} | trials {done}/{len(trials)} done"
        if self.tty:
            self.out.write("\r" + line.ljust(self._width))
            self._width = len(line)
        elif time.monotonic() - self._printed_at >= LOG_EVERY_S:
            self.out.write(line + "\n")
            self._printed_at = time.monotonic()
        self.out.flush()

    def __reduce__(self) -> tuple:
        # Tune pickles its callbacks into tuner.pkl; a resumed run prints to its own stdout.
        return (ProgressLine, (self.job, self.stop, self.metric, self.policies))


def summary_table(summary: dict[str, Any]) -> str:
    """The few numbers a researcher reads first, then where everything is."""
    rows = [
        ("status", summary["status"]),
        ("iterations", fmt_number(summary.get("iterations"))),
        ("env steps", fmt_number(summary.get("env_steps"))),
        ("wall time", fmt_duration(summary.get("wall_time_s", math.nan))),
        (f"{summary['metric']} (last)", fmt_number(summary.get("metric_last"))),
        (f"{summary['metric']} (best)", fmt_number(summary.get("metric_best"))),
        ("results", summary["run_dir"]),
        ("checkpoint", summary.get("checkpoint") or "-"),
        ("plots", summary.get("plots") or "-"),
    ]
    # A pipeline's stages, each with its own headline figure.
    rows += [(f"stage {s['stage']}", f"{s['status']}, {s.get('metric')} {fmt_number(s.get('value'))}")
             for s in summary.get("stages", [])]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k.ljust(width)}  {v}" for k, v in rows)

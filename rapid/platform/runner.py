"""Runs an RLlib job (one trial) or a sweep (many) under Tune, into a run folder.

Tune gives both the same checkpoints, `FailureConfig` restarts and resume; rapid adds the
run folder (spec, metrics.parquet, plots, summary) and the progress line.
"""

import inspect
import math
import os
from typing import Any

from ray import tune
from ray.tune.logger import JsonLoggerCallback

from rapid.platform import central_state
from rapid.platform.dashboard import RunGauges
from rapid.platform.episode_metrics import EpisodeMetric
from rapid.platform.figures import AGENT_RETURNS, POLICY_RETURNS, is_number
from rapid.platform.plots import GroupBy, by_trial
from rapid.platform.preflight import make_scheduler, make_searcher
from rapid.platform.progress import ProgressLine, summary_table
from rapid.platform.registry import SEARCHERS, TRAINABLES
from rapid.platform.results import RunRecorder, best_value, draw_plots, group_summary, newest_value, write_summary
from rapid.platform.rllib_config import episode_metrics
from rapid.platform.run_dir import CHECKPOINTS, PLOTS, RunDir, uri_of
from rapid.platform.run_health import ERROR, HEALTH, HEALTH_REASON, STALLED
from rapid.platform.search_space import to_tune
from rapid.platform.spec import RLlibJob, Stop, SweepJob
from rapid.platform.spec_file import trial_config
from rapid.platform.trainable import RLlibJobTrainable, rllib_body

# metrics.parquet is rapid's record of every result: of Tune's own loggers only the json one
# (result.json, which Tune's ResultGrid reads metrics from) is kept, not csv and tensorboard.
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
# rapid prints its own progress line; Tune's tables would bury it.
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
# Save Tune's experiment state often, so a driver killed outright resumes from its newest checkpoint.
os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "1")

TuneJob = RLlibJob | SweepJob


def tune_stop(stop: Stop) -> dict[str, float]:
    """Tune's stop dict: a trial ends when any result key reaches its value."""
    criteria = {"env_steps": stop.env_steps, "time_total_s": stop.wall_time_s, "training_iteration": stop.iterations}
    return {**{k: v for k, v in criteria.items() if v}, **stop.metric}


def _figures(job: TuneJob) -> tuple[str, ...]:
    """The job's extra figures (a multi-agent job's also every policy's return); a sweep of RLlib
    jobs plots those of its trials' job body."""
    if isinstance(job, RLlibJob):
        return (*job.figures, f"{POLICY_RETURNS}/*") if job.multi_agent is not None else tuple(job.figures)
    return tuple(job.config.get("figures", ()))


def _gauged(job: TuneJob) -> tuple[str, ...]:
    """What the gauges publish beyond every run's figures: the headline metric, the plotted
    figures, and an RLlib job's per-agent returns and central actors' figures."""
    figures = (job.metric, *_figures(job))
    if isinstance(job, RLlibJob):
        figures += (*(f"{key}/*" for key in central_state.keys(job)),)
        if job.multi_agent is not None:
            figures += (f"{AGENT_RETURNS}/*",)
    return figures


def _policies(job: TuneJob) -> tuple[str, ...]:
    """The trained policies of a multi-agent job, whose returns the progress line shows."""
    multi_agent = job.multi_agent if isinstance(job, RLlibJob) else None
    return tuple(multi_agent.trained) if multi_agent is not None else ()


def _group_by(job: TuneJob) -> GroupBy:
    return job.group_by if isinstance(job, SweepJob) else None


def single_trial_dir(trial: Any) -> str:
    """A lone RLlib trial keeps its checkpoints straight in the run's checkpoints/ folder."""
    return CHECKPOINTS


def sweep_trial_dir(trial: Any) -> str:
    return f"trial_{trial.trial_id}"


def _trainable_and_space(job: TuneJob) -> tuple[Any, dict[str, Any]]:
    if isinstance(job, RLlibJob):
        return RLlibJobTrainable, {"job": rllib_body(job)}
    space = trial_config(job, to_tune)
    # Tune runs each trial in its own folder: a relative data path would name nothing there.
    for key in TRAINABLES.entry(job.trainable).extra.get("path_keys", ()):
        if isinstance(space.get(key), str):
            space[key] = os.path.abspath(space[key])
    trainable = TRAINABLES.get(job.trainable)
    if trainable is RLlibJobTrainable:
        return trainable, {"job": space}
    if job.resources_per_trial is not None:
        trainable = tune.with_resources(trainable, {"cpu": job.resources_per_trial.cpu, "gpu": job.resources_per_trial.gpu})
    return trainable, space


def _checkpoint_config(trainable: Any, job: TuneJob) -> tune.CheckpointConfig:
    if not (inspect.isclass(trainable) and issubclass(trainable, tune.Trainable)):
        # Function trainables save their own checkpoints through tune.report.
        return tune.CheckpointConfig(num_to_keep=job.checkpoint.keep)
    return tune.CheckpointConfig(
        num_to_keep=job.checkpoint.keep,
        checkpoint_frequency=job.checkpoint.every,
        checkpoint_at_end=job.checkpoint.at_end,
    )


def _new_tuner(job: TuneJob, run: RunDir, trainable: Any, space: dict[str, Any]) -> tune.Tuner:
    run_config = tune.RunConfig(
        name=run.name,
        storage_path=run.parent,
        stop=tune_stop(job.stop),
        checkpoint_config=_checkpoint_config(trainable, job),
        failure_config=tune.FailureConfig(max_failures=job.max_failures),
        callbacks=[
            JsonLoggerCallback(),
            RunRecorder(run, job.name, job.metric, _figures(job), _group_by(job)),
            RunGauges(job.name, _gauged(job)),
            ProgressLine(job.name, job.stop, job.metric, _policies(job)),
        ],
        verbose=0,
    )
    if isinstance(job, RLlibJob):
        tune_config = tune.TuneConfig(trial_dirname_creator=single_trial_dir)
    else:
        tune_config = tune.TuneConfig(
            metric=job.metric,
            mode=job.mode,
            # A searcher that ends the sweep itself counts its own budget: Tune's count of trials
            # made is saved apart from its trials and, after a SIGKILL, may be ahead of them.
            num_samples=-1 if SEARCHERS.entry(job.search.name).extra.get("ends_itself") else job.num_samples,
            max_concurrent_trials=job.max_concurrent_trials,
            search_alg=make_searcher(job),
            scheduler=make_scheduler(job),
            trial_dirname_creator=sweep_trial_dir,
            reuse_actors=TRAINABLES.entry(job.trainable).extra.get("reuse_actors", False),
        )
    return tune.Tuner(trainable, param_space=space, tune_config=tune_config, run_config=run_config)


def run_tune_job(job: TuneJob, run: RunDir, restore: bool = False) -> dict[str, Any]:
    """Train the job into `run`, or continue it there; returns the summary it also writes."""
    trainable, space = _trainable_and_space(job)
    if restore:
        tuner = tune.Tuner.restore(run.uri, trainable=trainable, resume_unfinished=True, resume_errored=True)
    else:
        tuner = _new_tuner(job, run, trainable, space)
    results = tuner.fit()
    rows = run.current_rows()
    summary = _summary(job, run, rows, results)
    write_summary(run, summary)  # before the plots: a stopped job's driver may have seconds left
    draw_plots(run, rows, job.name, job.metric, _figures(job), _group_by(job))
    return summary


def _status(results: Any) -> tuple[str, str | None]:
    """(status, reason): error if a trial failed for good or ended itself on an error, stalled if
    one stalled (run_health.py); finished if every trial's last result is `done` (Tune marks it so
    when a stop criterion or the scheduler ends the trial); else stopped (Ctrl-C, `rapid stop`)."""
    if results.num_errors:
        return "error", f"{results.num_errors} trial(s) failed after their restarts (max_failures); errors below"
    for status in (ERROR, STALLED):
        for r in results:
            if r.metrics.get(HEALTH) == status:
                return status, r.metrics.get(HEALTH_REASON)
    done = len(results) > 0 and all(r.metrics.get("done") for r in results)
    return ("finished", None) if done else ("stopped", "stopped before its stop criteria were met")


def _sweep_wall_time(results: Any) -> float:
    """Seconds from the first trial's start to the last result of any trial: a row's wall_time_s
    is its own trial's time, not the sweep's."""
    spans = [
        (m["timestamp"] - m["time_total_s"], m["timestamp"])
        for m in (r.metrics for r in results)
        if m and is_number(m.get("timestamp")) and is_number(m.get("time_total_s"))
    ]
    return float(max(end for _, end in spans) - min(start for start, _ in spans)) if spans else math.nan


def _summary(job: TuneJob, run: RunDir, rows: list[dict[str, Any]], results: Any) -> dict[str, Any]:
    mode = job.mode if isinstance(job, SweepJob) else "max"
    last = rows[-1] if rows else {}
    status, reason = _status(results)
    summary: dict[str, Any] = {
        "job": job.name,
        "kind": job.kind,
        "status": status,
        "reason": reason,
        "run_dir": run.uri,
        "metric": job.metric,
        "metric_last": newest_value(rows, job.metric),
        "metric_best": best_value(rows, job.metric, mode),
        "iterations": last.get("iteration", 0),
        "env_steps": last.get("env_steps", math.nan),
        "wall_time_s": _sweep_wall_time(results) if isinstance(job, SweepJob) else last.get("wall_time_s", math.nan),
        "plots": f"{run.uri}/{PLOTS}",
        "errors": [str(e) for e in results.errors],
    }
    if isinstance(job, RLlibJob):
        summary["warning"] = flagged_episodes(episode_metrics(job), rows)
    newest = {trial: newest_value(trial_rows, job.metric) for trial, trial_rows in by_trial(rows).items()}
    best = _best_result(results, newest, mode) if isinstance(job, SweepJob) else (results[0] if len(results) else None)
    checkpoint = best.checkpoint if best is not None else None
    summary["checkpoint"] = uri_of(checkpoint.filesystem, checkpoint.path) if checkpoint else None
    if isinstance(job, SweepJob):
        summary["best_config"] = best.config if best is not None else None
        summary["trials"] = [
            {
                "trial_id": r.metrics.get("trial_id"),
                job.metric: newest.get(r.metrics.get("trial_id"), math.nan),
                "iterations": r.metrics.get("training_iteration"),
                "error": str(r.error) if r.error else None,
            }
            for r in results
        ]
        summary["trial_iterations_total"] = sum(r.metrics.get("training_iteration", 0) for r in results)
        if job.group_by is not None:
            summary["groups"] = group_summary(rows, job.metric, mode)
        report = TRAINABLES.entry(job.trainable).extra.get("report")
        if report is not None:
            summary["report"] = report([(r.config, r.metrics) for r in results if r.metrics], run)
    return summary


def flagged_episodes(metrics: dict[str, EpisodeMetric], rows: list[dict[str, Any]]) -> str | None:
    """A warning when more than a metric's `warn_share` of all episodes reported it (sim_unstable)."""
    episodes = sum(r.get("env_runners/num_episodes", 0) for r in rows if is_number(r.get("env_runners/num_episodes")))
    for name, metric in metrics.items():
        column = f"env_runners/{name}"
        flagged = sum(r[column] for r in rows if is_number(r.get(column)))
        if metric.warn_share is not None and episodes and flagged / episodes > metric.warn_share:
            return f"{flagged:,.0f} of {episodes:,.0f} episodes reported {name} ({column} in the plots): {metric.meaning}"
    return None


def _best_result(results: Any, newest: dict[str, float], mode: str) -> Any:
    """The trial whose newest value of the metric is best (None when no trial reported it)."""
    scored = [r for r in results if not math.isnan(newest.get(r.metrics.get("trial_id"), math.nan))]
    if not scored:
        return None
    return (max if mode == "max" else min)(scored, key=lambda r: newest[r.metrics["trial_id"]])


def print_summary(summary: dict[str, Any]) -> None:
    print(f"\n\n{summary['job']}: {summary['status']}")
    print(summary_table(summary))
    if summary.get("reason"):
        print(f"\nreason: {summary['reason']}")
    if summary.get("warning"):
        print(f"\nwarning: {summary['warning']}")
    if summary["status"] == "stopped":
        print(f"\nResume with: rapid run --resume {summary['run_dir']}")
    for error in summary.get("errors", []):
        print(f"\ntrial error: {error}")

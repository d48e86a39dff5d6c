"""`kind: data`: run a registered data step on Ray into `<run>/dataset/`.

The step writes parquet shards and returns its figures, which become the run's one metrics row
and its summary (with `dataset`, the folder a later pipeline stage reads as {stage.dataset}).
A stopped or killed step is resumed with the shards it already wrote; a finished one is kept.
"""

import time
from typing import Any

from rapid.platform.datasets import DATASET, Dataset
from rapid.platform.results import read_summary, write_summary
from rapid.platform.run_dir import RunDir
from rapid.platform.spec import DataJob


def run_data_job(job: DataJob, run: RunDir, restore: bool = False) -> dict[str, Any]:
    """Run the step; Ctrl-C (or `rapid stop`) leaves a `stopped` summary to resume from."""
    done = read_summary(run) if restore else None
    if done is not None and done["status"] == "finished":
        return done
    out = Dataset(f"{run.uri}/{DATASET}")
    start = time.perf_counter()
    summary: dict[str, Any] = {"job": job.name, "kind": "data", "step": job.step, "run_dir": run.uri, "dataset": out.uri}
    try:
        figures = job.data_step.run(job.settings, out, restore)
    except KeyboardInterrupt:
        summary.update(status="stopped", reason="interrupted (Ctrl-C or `rapid stop`)", shards=len(out.shards()),
                       metric=job.data_step.metric)
    else:
        seconds = time.perf_counter() - start
        run.append_rows([{"iteration": 1, "time_total_s": seconds, **figures}])
        metric = job.data_step.metric
        summary.update(status="finished", shards=len(out.shards()), wall_time_s=seconds, metric=metric,
                       metric_last=figures[metric], metric_best=figures[metric], **figures)
    write_summary(run, summary)
    return summary

"""`rapid plot`: several runs' learning curves overlaid in one PNG."""

from pathlib import Path

from rapid.platform.errors import RapidError, close_names
from rapid.platform.plots import overlay
from rapid.platform.run_dir import RunDir, storage_uri
from rapid.platform.spec_file import load_run_job


def plot_runs(run_dirs: list[str], metric: str | None = None, out: str | None = None) -> str:
    """Write the overlay and return its path; each run is labelled `<job>/<timestamp>`."""
    curves = {}
    for run_dir in run_dirs:
        run = RunDir(storage_uri(run_dir))
        job = load_run_job(run)
        metric = metric or job.metric
        rows = run.current_rows()
        if not rows:
            raise RapidError(f"{run_dir}: no metrics.parquet yet (the run has not finished an iteration)")
        if not any(metric in r for r in rows):
            near = close_names(metric, {k for r in rows for k in r}, n=5)
            raise RapidError(f"{run_dir}: no metric '{metric}' in metrics.parquet; close names: {', '.join(near) or 'none'}")
        curves[f"{job.name}/{run.name}"] = rows
    assert metric is not None
    target = Path(out or f"plot_{metric.replace('/', '_')}.png")
    target.write_bytes(overlay(curves, metric, f"{metric} over {len(curves)} run(s)"))
    return str(target)

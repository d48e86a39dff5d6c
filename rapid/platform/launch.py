"""`rapid run`: connect to Ray, check the job, make the run folder, run or resume it."""

import signal
from typing import Any

import ray

from rapid.platform import cluster
from rapid.platform.pipeline import run_job
from rapid.platform.preflight import check_cluster, preflight
from rapid.platform.run_dir import SPEC, RunDir, storage_uri
from rapid.platform.spec_file import LoadedSpec, load_run_job


def _stop_like_ctrl_c(signum: int, frame: object) -> None:
    """SIGTERM (`rapid stop`, `ray job stop`) stops the run as Ctrl-C does: Tune's own SIGINT
    handler while it trains (the run saves its state and writes its summary), else KeyboardInterrupt."""
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signum, frame)
    else:
        raise KeyboardInterrupt


def _connect(verbose: bool) -> None:
    """Connect to Ray, then take SIGTERM back from it (Ray's own handler kills the driver at once)."""
    cluster.connect(verbose)
    signal.signal(signal.SIGTERM, _stop_like_ctrl_c)


def launch(loaded: LoadedSpec, verbose: bool = False) -> dict[str, Any]:
    """Run a validated spec into a new `<storage_path>/<name>/<timestamp>/` folder."""
    needs = preflight(loaded.job, loaded.path)
    _connect(verbose)
    try:
        check_cluster(needs)
        run = RunDir.new(loaded.job.storage_path, loaded.job.name)
        run.write_yaml(SPEC, loaded.resolved)
        return run_job(loaded.job, run, restore=False)
    finally:
        ray.shutdown()  # stops an embedded instance; only disconnects from a cluster


def resume(run_path: str, verbose: bool = False) -> dict[str, Any]:
    """Continue a stopped, crashed or killed run from its newest checkpoint."""
    run = RunDir(storage_uri(run_path))
    job = load_run_job(run)
    needs = preflight(job, run_path)
    _connect(verbose)
    try:
        check_cluster(needs)
        return run_job(job, run, restore=True)
    finally:
        ray.shutdown()

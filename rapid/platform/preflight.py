"""Everything that can fail before a run folder exists: RLlib's own config checks, the searcher
and scheduler constructors, and whether the cluster can ever hold one trial.

`rapid validate` runs it without a cluster; `rapid run` runs it once Ray is up, before it
writes anything, so bad input never leaves a half-made results folder behind.
"""

from typing import Any

from rapid.platform import cluster
from rapid.platform.errors import RapidError
from rapid.platform.registry import SCHEDULERS, SEARCHERS, TRAINABLES
from rapid.platform.search_space import sample_value
from rapid.platform.spec import Job, PipelineJob, RLlibJob, SweepJob
from rapid.platform.spec_file import load_stage, trial_config
from rapid.platform.trainable import RLlibJobTrainable, rllib_body


def make_searcher(job: SweepJob) -> Any:
    """The sweep's searcher; Tune's own grid/random search also enforces max_concurrent_trials."""
    cls = SEARCHERS.get(job.search.name)
    options = dict(job.search.options)
    if job.search.name == "basic_variant" and job.max_concurrent_trials:
        options.setdefault("max_concurrent", job.max_concurrent_trials)
    return _construct(cls, options, f"search ({job.search.name})")


def make_scheduler(job: SweepJob) -> Any:
    return _construct(SCHEDULERS.get(job.scheduler.name), job.scheduler.options, f"scheduler ({job.scheduler.name})")


def _construct(cls: type, options: dict[str, Any], what: str) -> Any:
    try:
        return cls(**options)
    except (TypeError, ValueError) as err:
        raise RapidError(f"{what}.options: {err}") from None


def rllib_trial_resources(body: dict[str, Any], what: str) -> dict[str, float]:
    """What one RLlib trial reserves; RLlib's own validate() errors become RapidErrors."""
    try:
        return RLlibJobTrainable.default_resource_request({"job": body}).required_resources
    except (ValueError, TypeError, KeyError) as err:
        raise RapidError(f"{what}: RLlib rejects the config: {err}") from None


def trial_resources(job: RLlibJob | SweepJob) -> dict[str, float] | None:
    """What one trial of the job reserves, when that is known before it runs."""
    if isinstance(job, RLlibJob):
        return rllib_trial_resources(rllib_body(job), f"job '{job.name}'")
    make_searcher(job)
    make_scheduler(job)
    if TRAINABLES.get(job.trainable) is RLlibJobTrainable:
        return rllib_trial_resources(trial_config(job, lambda key, space: sample_value(space)), f"sweep '{job.name}' config")
    if job.resources_per_trial is not None:
        return {"CPU": job.resources_per_trial.cpu, "GPU": job.resources_per_trial.gpu}
    return None


def preflight(job: Job, on_cluster: bool) -> None:
    """Check the job (every stage of a pipeline); with `on_cluster`, also that one trial fits."""
    jobs = [load_stage(stage).job for stage in job.stages] if isinstance(job, PipelineJob) else [job]
    for each in jobs:
        need = trial_resources(each)
        if on_cluster and need:
            cluster.check_fits(need, f"job '{each.name}' (one trial)")

"""`kind: pipeline`: stages run in order, each a run of its own in `<run>/<stage>/`.

A later stage names an earlier one's outputs in its `set:` values as {stage.checkpoint}
(the newest checkpoint), {stage.dataset} (a data stage's dataset) or {stage.run_dir}, and
{pipeline.run_dir} is the pipeline's own folder (for what stages share: a cache of trained
models). A resumed pipeline skips finished stages and resumes the one that was interrupted.
"""

from typing import Any

from rapid.platform.data_stage import run_data_job
from rapid.platform.preflight import preflight
from rapid.platform.results import read_summary, write_summary
from rapid.platform.run_dir import SPEC, RunDir
from rapid.platform.runner import run_tune_job
from rapid.platform.spec import DataJob, Job, PipelineJob
from rapid.platform.spec_file import PIPELINE, load_run_job, load_stage


def run_job(job: Job, run: RunDir, restore: bool) -> dict[str, Any]:
    """Run any kind of job into `run`; `restore` resumes it from what the folder holds."""
    if isinstance(job, PipelineJob):
        return run_pipeline(job, run, restore)
    if isinstance(job, DataJob):
        return run_data_job(job, run, restore)
    # A run killed before Tune saved its first state has nothing to restore: start it afresh.
    return run_tune_job(job, run, restore=restore and run.resumable())


def run_pipeline(job: PipelineJob, run: RunDir, restore: bool) -> dict[str, Any]:
    """Run every stage not yet finished; stop at the first that does not finish."""
    outputs: dict[str, dict[str, Any]] = {PIPELINE: {"run_dir": run.uri}}
    stages: list[dict[str, Any]] = []
    status = "finished"
    for stage in job.stages:
        stage_run = RunDir(f"{run.uri}/{stage.name}")
        summary = read_summary(stage_run) if restore else None
        if summary is None or summary["status"] != "finished":
            resuming = restore and stage_run.exists(SPEC)
            if resuming:
                stage_job = load_run_job(stage_run)
            else:
                loaded = load_stage(stage, outputs)
                stage_job = loaded.job
                preflight(stage_job, stage.spec)  # now with the earlier stages' real outputs
                stage_run.write_yaml(SPEC, loaded.resolved)
            print(f"\n== stage {stage.name} ({stage_job.kind}: {stage.spec})")
            summary = run_job(stage_job, stage_run, restore=resuming)
        outputs[stage.name] = summary
        stages.append({"stage": stage.name, "status": summary["status"], "run_dir": stage_run.uri,
                       "metric": summary.get("metric"), "value": summary.get("metric_last")})
        if summary["status"] != "finished":
            status = summary["status"]
            break
    last = outputs[stages[-1]["stage"]]
    pipeline_summary = {**last, "job": job.name, "kind": "pipeline", "status": status, "run_dir": run.uri, "stages": stages}
    write_summary(run, pipeline_summary)
    return pipeline_summary

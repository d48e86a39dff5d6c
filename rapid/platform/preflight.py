"""Everything that can fail before a run folder exists: RLlib's own config checks, the searcher
and scheduler constructors, and whether the cluster can ever hold one trial.

`rapid validate` and `rapid run` run it before Ray starts; `rapid run` then checks the
resources against the cluster before it writes anything, so bad input never leaves a
half-made results folder behind.
"""

from pathlib import Path
from typing import Any

import gymnasium as gym
from pydantic import ValidationError

from rapid.platform import cluster
from rapid.platform.errors import RapidError
from rapid.platform.registry import ENVS, SCHEDULERS, SEARCHERS, TRAINABLES
from rapid.platform.spec import Job, PipelineJob, RLlibJob, SweepJob
from rapid.platform.spec_file import load_stage, sample_trial_config
from rapid.platform.trainable import RLlibJobTrainable, rllib_body
from rapid.training.adr import ADRSettings
from rapid.training.her import goal_env_problem


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
        # RLlib's advice to switch its checks off is not one a spec can take.
        reason = str(err).split("\nTo suppress all validation errors")[0]
        raise RapidError(f"{what}: RLlib rejects the config: {reason}") from None


# pydantic model -> the env_config key it validates, for error messages.
ENV_CONFIG_KEYS = {"Randomization": "randomization", "ADRSettings": "adr"}


def check_env_config(job: RLlibJob) -> None:
    """Build the env once as the job configures it (wrappers included): a bad key, model field,
    selector or range fails here with its name, not later inside an EnvRunner."""
    configs = [job.env_config]
    if job.evaluation is not None:
        configs.append({**job.env_config, **job.evaluation.env_config})
    for env_config in configs:
        config = dict(env_config)
        adr = config.pop("adr", None)
        try:
            if adr is not None:
                ADRSettings.model_validate({k: v for k, v in adr.items() if k != "actor"})
            env = ENVS.get(job.env)(config)
            problem = goal_env_problem(env) if job.her is not None else None
            env.close()
        except ValidationError as err:
            key = ENV_CONFIG_KEYS.get(err.title, err.title)
            problems = "; ".join(
                f"env_config.{key}.{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}" for e in err.errors()
            )
            raise RapidError(f"job '{job.name}': {problems}") from None
        except (TypeError, ValueError, gym.error.Error) as err:
            raise RapidError(f"job '{job.name}': env '{job.env}' rejects its env_config: {err}") from None
        if problem is not None:
            raise RapidError(f"job '{job.name}': her: env '{job.env}' is not a goal env HER can relabel: {problem}")


def trial_resources(job: RLlibJob | SweepJob) -> dict[str, float] | None:
    """What one trial of the job reserves, when that is known before it runs."""
    if isinstance(job, RLlibJob):
        check_env_config(job)
        return rllib_trial_resources(rllib_body(job), f"job '{job.name}'")
    make_searcher(job)
    make_scheduler(job)
    check_data = TRAINABLES.entry(job.trainable).extra.get("check_data")
    if check_data is not None:
        check_data(sample_trial_config(job), f"sweep '{job.name}'")
    if TRAINABLES.get(job.trainable) is RLlibJobTrainable:
        body = sample_trial_config(job)
        check_env_config(RLlibJob.model_validate({"name": job.name, **body}))
        return rllib_trial_resources(body, f"sweep '{job.name}' config")
    if job.resources_per_trial is not None:
        return {"CPU": job.resources_per_trial.cpu, "GPU": job.resources_per_trial.gpu}
    return None


def preflight(job: Job, source: str | Path) -> dict[str, dict[str, float]]:
    """Check the job (every stage of a pipeline) without a cluster; returns what one trial of
    each job reserves, for `check_cluster` once Ray is up. Errors name `source`, the spec file
    or run folder the job came from."""
    jobs = [load_stage(stage).job for stage in job.stages] if isinstance(job, PipelineJob) else [job]
    needs = {}
    for each in jobs:
        try:
            need = trial_resources(each)
        except RapidError as err:
            raise RapidError(f"{source}: {err}") from None
        if need:
            needs[each.name] = need
    return needs


def check_cluster(needs: dict[str, dict[str, float]]) -> None:
    """RapidError when the connected cluster can never hold one trial of a job."""
    for name, need in needs.items():
        cluster.check_fits(need, f"job '{name}' (one trial)")

"""Everything that can fail before a run folder exists: RLlib's own config checks, the searcher
and scheduler constructors, and whether the cluster can ever hold one trial.

`rapid validate` and `rapid run` run it before Ray starts; `rapid run` then checks the
resources against the cluster before it writes anything, so bad input never leaves a
half-made results folder behind.
"""

import inspect
from pathlib import Path
from typing import Any

import gymnasium as gym
from ray.rllib.env.multi_agent_env import MultiAgentEnv

from rapid.platform import cluster
from rapid.platform.env_stack import VECTOR_KEYS, env_config_of, make_env
from rapid.platform.errors import RapidError, did_you_mean
from rapid.platform.initial_weights import MODULE_WEIGHTS, starting_weights
from rapid.platform.multi_agent import agent_spaces, policy_spaces
from rapid.platform.plugins import SettingsError
from rapid.platform.registry import ALGORITHMS, ENVS, MODULES, SCHEDULERS, SEARCHERS, TRAINABLES, WRAPPERS
from rapid.platform.schema_errors import unknown_key
from rapid.platform.spec import DataJob, Job, PipelineJob, RLlibJob, SweepJob
from rapid.platform.spec_file import checkable_here, load_stage, sample_trial_config
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
    """`cls(**options)`, or a RapidError naming the option: unknown, of the wrong type for its
    default, or the one the constructor's own error mentions."""
    _check_options(cls, options, what)
    try:
        return cls(**options)
    except (TypeError, ValueError, AssertionError) as err:
        named = [key for key in options if f"'{key}'" in str(err) or f"`{key}`" in str(err) or f" {key} " in f" {err} "]
        raise RapidError(f"{what}.options{'.' + named[0] if named else ''}: {err}") from None


def _check_options(cls: type, options: dict[str, Any], what: str) -> None:
    params = inspect.signature(cls).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        valid = [name for name, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        for key in options:
            if key not in valid:
                raise RapidError(f"{what}.options.{key}: {unknown_key(key, valid)}")
    for key, value in options.items():
        default = params[key].default if key in params else inspect.Parameter.empty
        number = isinstance(default, int | float) and not isinstance(default, bool)
        if number and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise RapidError(f"{what}.options.{key}: expected a number (the default is {default!r}), got {value!r}")
        if isinstance(default, str) and not isinstance(value, str):
            raise RapidError(f"{what}.options.{key}: expected a string (the default is {default!r}), got {value!r}")


def rllib_trial_resources(body: dict[str, Any], what: str) -> dict[str, float]:
    """What one RLlib trial reserves; RLlib's own validate() errors become RapidErrors."""
    try:
        return RLlibJobTrainable.default_resource_request({"job": body}).required_resources
    except (ValueError, TypeError, KeyError) as err:
        # RLlib's advice to switch its checks off is not one a spec can take.
        reason = str(err).split("\nTo suppress all validation errors")[0]
        raise RapidError(f"{what}: RLlib rejects the config: {reason}") from None


def check_env_config(job: RLlibJob) -> None:
    """Build the env once as the job configures it, wrappers included, and show it to the plug-ins
    and the multi-agent section: a bad key, model field, selector, range or agent mapping fails
    here with its name, not later inside an EnvRunner."""
    configs = [job.env_config]
    if job.evaluation is not None:
        configs.append({**job.env_config, **job.evaluation.env_config})
    for env_config in configs:
        try:
            env = make_env(job.env, env_config)
            try:
                problems = _env_problems(job, env)
            finally:
                env.close()
        except SettingsError as err:
            raise RapidError(f"job '{job.name}': {err}") from None
        except (TypeError, ValueError, gym.error.Error) as err:
            hint = _wrapper_hint(env_config, err)
            raise RapidError(f"job '{job.name}': env '{job.env}' rejects its env_config: {err}{hint}") from None
        if problems:
            raise RapidError(f"job '{job.name}': {problems[0]}")


def _env_problems(job: RLlibJob, env: object) -> list[str]:
    """What the built env tells about the job: a single- or multi-agent mismatch, agents no policy
    plays, and what each turned-on plug-in finds wrong with it."""
    multi = isinstance(env, MultiAgentEnv)
    if multi and job.multi_agent is None:
        return [f"env: '{job.env}' is a multi-agent env; give multi_agent: with its policies and policy_mapping"]
    if not multi and job.multi_agent is not None:
        return [f"multi_agent: env '{job.env}' has a single agent; remove multi_agent: or pick a multi-agent env"]
    if multi:
        try:
            acting = {f"policy '{p}'": pair[1] for p, pair in policy_spaces(job, agent_spaces(env)).items()}
        except ValueError as err:
            return [str(err)]
    else:
        acting = {"the env": env.action_space}
    found = _action_space_problems(job.algorithm, acting)
    for name, section, settings in job.plugin_sections():
        if section.check_env is not None and settings is not None:
            problem = section.check_env(settings, env, job)
            if problem is not None:
                found.append(f"{name}: {problem}")
    return found


def _action_space_problems(algorithm: str, acting: dict[str, Any]) -> list[str]:
    """The policies (or the env) whose action space the algorithm cannot act in."""
    allowed = ALGORITHMS.entry(algorithm).extra.get("action_spaces")
    if allowed is None:
        return []
    names = " or ".join(space.__name__ for space in allowed)
    return [
        f"algorithm: {algorithm} acts in {names} action spaces; {who} has {space}"
        for who, space in acting.items()
        if not isinstance(space, allowed)
    ]


def _wrapper_hint(env_config: dict[str, Any], err: Exception) -> str:
    """For an env that refuses a keyword: the wrapper key it may be a typo of."""
    for key in env_config:
        if key not in WRAPPERS and key not in VECTOR_KEYS and f"'{key}'" in str(err):
            hint = did_you_mean(key, WRAPPERS.names())
            if hint:
                return f"; env_config.{key} is no wrapper's key{hint}"
    return ""


def check_starting_weights(job: RLlibJob) -> None:
    """Each `init_checkpoint` on this machine holds the weights it names. A URI (s3://...) is read
    where the job runs; an earlier pipeline stage's output does not exist before that stage runs."""
    for component, checkpoint in starting_weights(job).items():
        if not checkable_here(checkpoint):
            continue
        key = "policy" if component == MODULE_WEIGHTS else f"multi_agent.policies.{component.rsplit('/', 1)[1]}"
        if not Path(checkpoint, component).exists():
            found = "no such folder" if not Path(checkpoint).exists() else f"no {component}/ in it"
            raise RapidError(
                f"job '{job.name}': {key}.init_checkpoint: {checkpoint}: {found}; "
                "expected an RLlib checkpoint folder (a run's checkpoints/checkpoint_...)"
            )


def missing_inputs(job: DataJob) -> list[str]:
    """Each path a data step reads that this machine lacks, one sentence each (a URI is read where
    the job runs; an earlier pipeline stage's output does not exist before that stage runs)."""
    return [
        f"job '{job.name}': config.{key}: {path}: no such file or folder; expected {what} there"
        for key, (path, what) in job.data_step.inputs(job.settings).items()
        if checkable_here(path) and not Path(path).exists()
    ]


def check_inputs(job: DataJob) -> None:
    """The data step's own check of what it reads, where all of that is on this machine."""
    inputs = [path for path, _ in job.data_step.inputs(job.settings).values()]
    if job.data_step.check is None or not all(checkable_here(path) and Path(path).exists() for path in inputs):
        return
    try:
        job.data_step.check(job.settings)
    except ValueError as err:
        raise RapidError(f"job '{job.name}': {err}") from None


def _rllib_trial(job: Job) -> RLlibJob | None:
    """A sampled trial's RLlib job, for a sweep of RLlib jobs."""
    if isinstance(job, SweepJob) and TRAINABLES.get(job.trainable) is RLlibJobTrainable:
        return RLlibJob.model_validate({"name": job.name, **sample_trial_config(job)})
    return None


def trial_resources(job: RLlibJob | SweepJob | DataJob) -> dict[str, float] | None:
    """What one trial of the job reserves, when that is known before it runs."""
    if isinstance(job, DataJob):
        check_inputs(job)
        return job.data_step.resources(job.settings) or None
    if isinstance(job, RLlibJob):
        check_starting_weights(job)
        check_env_config(job)
        return rllib_trial_resources(rllib_body(job), f"job '{job.name}'")
    make_searcher(job)
    make_scheduler(job)
    trial_job = _rllib_trial(job)
    if trial_job is not None:
        check_starting_weights(trial_job)
        check_env_config(trial_job)
        return rllib_trial_resources(rllib_body(trial_job), f"sweep '{job.name}' config")
    if job.resources_per_trial is not None:
        return {"CPU": job.resources_per_trial.cpu, "GPU": job.resources_per_trial.gpu}
    return None


def _jobs(job: Job) -> list[Job]:
    return [load_stage(stage).job for stage in job.stages] if isinstance(job, PipelineJob) else [job]


def _policies(job: RLlibJob) -> list[tuple[str, Any]]:
    """(spec key, Policy) of each policy a job trains or plays."""
    if job.multi_agent is None:
        return [("policy", job.policy)]
    return [(f"multi_agent.policies.{name}", policy) for name, policy in job.multi_agent.policies.items()]


def missing_data(job: Job) -> list[str]:
    """What this machine lacks that the job needs where it runs, one sentence each: the files a
    data step reads, the data a trainable's check finds missing (the CIFAR-10 files of a sweep that
    reads them from the cluster's disk), or what an env's `check_machine` finds missing (MineRL's
    own interpreter)."""
    found = []
    for each in _jobs(job):
        if isinstance(each, DataJob):
            found.extend(missing_inputs(each))
        rllib = each if isinstance(each, RLlibJob) else _rllib_trial(each)
        check_machine = ENVS.entry(rllib.env).extra.get("check_machine") if rllib is not None else None
        lacking = check_machine(env_config_of(rllib.env, rllib.env_config)) if check_machine is not None else None
        if lacking is not None:
            found.append(f"job '{each.name}': {lacking}")
        for name, policy in _policies(rllib) if rllib is not None else []:
            check_module = MODULES.entry(policy.module).extra.get("check_machine")
            lacking = check_module(policy.model_config_) if check_module is not None else None
            if lacking is not None:
                found.append(f"job '{each.name}': {name}: {lacking}")
        check = TRAINABLES.entry(each.trainable).extra.get("check_data") if isinstance(each, SweepJob) else None
        try:
            if check is not None:
                check(sample_trial_config(each), f"sweep '{each.name}'")
        except RapidError as err:
            found.append(str(err))
    return found


def preflight(job: Job, source: str | Path, data_here: bool = True) -> dict[str, dict[str, float]]:
    """Check the job (every stage of a pipeline) without a cluster; returns what one trial of
    each job reserves, for `check_cluster` once Ray is up. Errors name `source`, the spec file
    or run folder the job came from. `data_here`: the job runs here, so its data must be here too
    (`rapid run`); `rapid validate` and `rapid submit` only say what is missing (`missing_data`)."""
    needs = {}
    for each in _jobs(job):
        try:
            need = trial_resources(each)
        except RapidError as err:
            raise RapidError(f"{source}: {err}") from None
        if need:
            needs[each.name] = need
    missing = missing_data(job) if data_here else []
    if missing:
        raise RapidError(f"{source}: {missing[0]}")
    return needs


def data_elsewhere_note(job: Job) -> list[str]:
    """For `rapid validate` and `rapid submit`: the data this machine lacks, to be checked where the job runs."""
    return [f"{problem}: not on this machine; `rapid run` checks it where the job runs and refuses if it is missing there"
            for problem in missing_data(job)]


def check_cluster(needs: dict[str, dict[str, float]]) -> None:
    """RapidError when the connected cluster can never hold one trial of a job."""
    for name, need in needs.items():
        cluster.check_fits(need, f"job '{name}' (one trial)")

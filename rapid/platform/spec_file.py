"""From a spec file to a validated job: profiles, `--set` overrides, and errors a person can act on."""

import copy
import itertools
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from rapid.platform import registry
from rapid.platform.errors import RapidError, did_you_mean
from rapid.platform.run_dir import SPEC, RunDir
from rapid.platform.schema_errors import problems
from rapid.platform.search_space import MAX_TRIALS, grid_points, grid_size, sample_value, to_tune
from rapid.platform.spec import KINDS, MODELS, Job, PipelineJob, Stage, SweepJob
from rapid.platform.yaml_source import KeyPath, SpecLoader, parse_value, read_yaml


@dataclass
class LoadedSpec:
    """A validated job and how it was made, so a cluster can make it again the same way."""

    path: Path
    job: Job
    resolved: dict[str, Any]
    profile: str | None = None
    overrides: list[str] = field(default_factory=list)


def set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    """`data[a][b] = value` for `dotted` = 'a.b', making mappings on the way."""
    *parents, last = dotted.split(".")
    node: Any = data
    for part in parents:
        child = node.get(part) if isinstance(node, dict) else None
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise RapidError(f"{dotted}: '{part}' holds {child!r}, not a mapping of keys")
        node = child
    node[last] = value


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """`base` with `update` laid over it; mappings merge key by key, anything else replaces."""
    merged = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _apply_profile(data: dict[str, Any], profile: str | None, source: str) -> dict[str, Any]:
    profiles = data.pop("profiles", None) or {}
    if not isinstance(profiles, dict) or not all(isinstance(p, dict) for p in profiles.values()):
        raise RapidError(f"{source}: profiles: expected a mapping of profile name -> partial spec")
    if profile is None:
        return data
    if profile not in profiles:
        names = ", ".join(profiles) or "none"
        raise RapidError(f"{source}: no profile '{profile}'{did_you_mean(profile, profiles)}; profiles: {names}")
    return deep_merge(data, profiles[profile])


def _apply_overrides(data: dict[str, Any], overrides: list[str]) -> None:
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise RapidError(f"--set {item}: expected KEY=VALUE, e.g. --set training.lr=3e-4")
        set_path(data, key.strip(), parse_value(text))


def _format(
    err: ValidationError,
    model: type[BaseModel],
    source: str,
    lines: dict[KeyPath, int],
    prefix: KeyPath,
    unprefixed: tuple[str, ...],
) -> str:
    out = [f"{source}: the spec is not valid:"]
    for path, message in problems(err, model):
        outside = bool(path) and path[0] in unprefixed
        loc = (() if outside else prefix) + path
        dotted = ".".join(str(p) for p in loc) or "(top level)"
        where = f" (line {lines[loc]})" if loc in lines else ""  # keys from --set or param_space have none
        out.append(f"  {dotted}{where}: {message}")
    return "\n".join(out)


def _refuse_nan(data: Any, source: str, lines: dict[KeyPath, int], prefix: KeyPath, path: KeyPath = ()) -> None:
    """NaN is no setting anywhere: a RapidError naming the first key that holds one."""
    if isinstance(data, float) and math.isnan(data):
        loc = prefix + path
        where = f" (line {lines[loc]})" if loc in lines else ""
        raise RapidError(f"{source}: {'.'.join(map(str, loc))}{where}: expected a number, got .nan")
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        _refuse_nan(value, source, lines, prefix, path + (key,))


def _hint_misspelt_kind(data: dict[str, Any]) -> str:
    """For a spec without `kind:`: the key that looks like a misspelt one."""
    close = [key for key in data if isinstance(key, str) and did_you_mean(key, ["kind"])]
    return f" ('{close[0]}' looks like a misspelt kind)" if close and "kind" not in data else ""


def validate_job(
    data: dict[str, Any],
    source: str,
    lines: dict[KeyPath, int] | None = None,
    prefix: KeyPath = (),
    kinds: tuple[str, ...] = KINDS,
    unprefixed: tuple[str, ...] = (),
) -> Job:
    """The job model for `data`, or a RapidError naming the source, key path, line and fix. Keys
    sit under `prefix` in the source, except `unprefixed` ones (a sweep's own keys in a trial's config)."""
    lines = lines or {}
    _refuse_nan(data, source, lines, prefix)
    kind = data.get("kind")
    if kind not in kinds:
        hint = did_you_mean(str(kind), kinds) if kind is not None else _hint_misspelt_kind(data)
        raise RapidError(f"{source}: kind: expected one of {', '.join(kinds)}, got {kind!r}{hint}")
    model = MODELS[kind]
    registry.load_all()  # a plug-in clash is the error, not the first key that asked for a plug-in
    try:
        job = model.model_validate(data)
    except ValidationError as err:
        raise RapidError(_format(err, model, source, lines, prefix, unprefixed)) from None
    except RapidError as err:
        raise RapidError(f"{source}: {err}") from None
    if isinstance(job, SweepJob):
        _check_sweep(job, source, lines)
    return job


def trial_config(job: SweepJob, value: Callable[[str, Any], Any]) -> dict[str, Any]:
    """The config one trial gets: `config`, each param_space key set to `value(key, space)`, and
    the keys its trainable takes from the sweep itself (the `rllib` trainable: stop, checkpoint)."""
    config = copy.deepcopy(job.config)
    for key, space in job.param_space.items():
        set_path(config, key, value(key, space))
    for key in registry.TRAINABLES.entry(job.trainable).extra.get("from_sweep", ()):
        field = getattr(job, key)
        config[key] = field.model_dump() if isinstance(field, BaseModel) else field
    return config


def _check_sweep(job: SweepJob, source: str, lines: dict[KeyPath, int]) -> None:
    """Search spaces parse, and a trial's config is valid for the trainable."""
    for key in registry.TRAINABLES.entry(job.trainable).extra.get("from_sweep", ()):
        if key in job.config:
            raise RapidError(f"{source}: config.{key}: the sweep sets it for every trial; move it to the sweep's top level")
    for key, space in job.param_space.items():
        try:
            to_tune(key, space)
        except ValueError as err:
            raise RapidError(f"{source}: {err}") from None
    trials = math.prod(grid_size(space) for space in job.param_space.values()) * job.num_samples
    if trials > MAX_TRIALS:
        raise RapidError(
            f"{source}: param_space: its grids times num_samples make {trials:,} trials; at most {MAX_TRIALS:,}"
        )
    for part in (registry.SEARCHERS.entry(job.search.name), registry.SCHEDULERS.entry(job.scheduler.name)):
        if "check_sweep" in part.extra:
            part.extra["check_sweep"](job, source)
    check = registry.TRAINABLES.entry(job.trainable).extra.get("check_config")
    if check is not None:
        for point in grid_combinations(job):
            check(sample_trial_config(job, point), source, lines)


# Grids of at most this many points have every point's config checked before Ray starts (a value
# can be valid alone but not beside another grid's: a weak model no smaller than its strong one);
# a larger grid is checked at one sample.
MAX_CHECKED_POINTS = 1000


def grid_combinations(job: SweepJob) -> list[dict[str, Any]]:
    """Each combination of the sweep's `grid_search` values, as {key: value}."""
    grids = {key: points for key, space in job.param_space.items() if (points := grid_points(space)) is not None}
    if math.prod(len(points) for points in grids.values()) > MAX_CHECKED_POINTS:
        return [{}]
    return [dict(zip(grids, values, strict=True)) for values in itertools.product(*grids.values())]


def sample_trial_config(job: SweepJob, grid_point: dict[str, Any] | None = None) -> dict[str, Any]:
    """A config one trial could get: a sample of each search space (the `grid_point` values where
    it names the key), and what the searcher adds itself (the metaqnn searcher's network), so the
    trainable's own check sees a whole config."""
    point = grid_point or {}
    config = trial_config(job, lambda key, space: point[key] if key in point else sample_value(space))
    suggestion = registry.SEARCHERS.entry(job.search.name).extra.get("suggestion")
    try:
        return {**config, **suggestion(config)} if suggestion else config
    except ValueError:
        return config  # the searcher cannot design for this config: the trainable's check names the key


def check_rllib_trial_config(config: dict[str, Any], source: str, lines: dict[KeyPath, int]) -> None:
    """A sweep over the `rllib` trainable: a trial's config is an RLlib job body."""
    from_sweep = registry.TRAINABLES.entry("rllib").extra["from_sweep"]
    validate_job({"kind": "rllib", "name": "trial", **config}, source, lines, ("config",), unprefixed=from_sweep)


# A later stage names an earlier one's outputs as {stage.checkpoint}, {stage.dataset} or {stage.run_dir};
# any stage names the pipeline's folder as {pipeline.run_dir}.
STAGE_REFERENCE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\.(checkpoint|dataset|run_dir)\}")
# What a stage of each kind leaves for later ones (the keys of its summary); {pipeline.run_dir} is
# the pipeline's own folder, there before any stage runs.
PIPELINE = "pipeline"
STAGE_OUTPUTS = {"data": ("dataset", "run_dir"), "rllib": ("checkpoint", "run_dir"), "sweep": ("checkpoint", "run_dir"),
                 PIPELINE: ("run_dir",)}
# Stands in for an output while its stage has not run, so that a pipeline validates up front.
PENDING_OUTPUT = "/pending/stage/output"


def checkable_here(path: str) -> bool:
    """Whether this machine can look at `path` now: not a URI (read where the job runs) and not an
    earlier pipeline stage's output, which does not exist before that stage runs."""
    return "://" not in path and not path.startswith(PENDING_OUTPUT)


def _fill(value: Any, outputs: dict[str, dict[str, Any]] | None) -> Any:
    if not isinstance(value, str):
        return value

    def output(match: re.Match) -> str:
        if outputs is None:
            return PENDING_OUTPUT
        stage, what = match.groups()
        found = outputs[stage].get(what)
        if not found:
            raise RapidError(f"stage '{stage}' left no {what} for a later stage to use")
        return str(found)

    return STAGE_REFERENCE.sub(output, value)


def load_stage(stage: Stage, outputs: dict[str, dict[str, Any]] | None = None) -> LoadedSpec:
    """A stage's own spec, named after the stage, with its `set:` applied; references are filled
    from `outputs` (earlier stages' summaries), or with placeholders before anything ran."""
    values = {key: _fill(value, outputs) for key, value in stage.set.items()}
    return load_spec(stage.spec, stage.profile, values={**values, "name": stage.name}, kinds=("rllib", "sweep", "data"))


def _check_pipeline(job: PipelineJob, path: Path, resolved: dict[str, Any], profile: str | None) -> None:
    """Every stage's spec loads, and references name earlier stages only, and outputs those leave.

    Stage spec paths become relative to the current folder (the repository root, also on a
    cluster), so a resumed pipeline finds them from its saved spec. A stage that names no profile
    takes the pipeline's, where its spec defines one of that name (`--profile smoke` runs every
    stage's smoke profile).
    """
    seen: dict[str, str] = {PIPELINE: PIPELINE}  # earlier stages' names and kinds
    for index, stage in enumerate(job.stages):
        stage.spec = os.path.relpath(path.parent / stage.spec)
        resolved["stages"][index]["spec"] = stage.spec
        if stage.profile is None and profile is not None and profile in profiles_of(stage.spec):
            stage.profile = resolved["stages"][index]["profile"] = profile
        for key, value in stage.set.items():
            for match in STAGE_REFERENCE.finditer(value if isinstance(value, str) else ""):
                where = f"{path}: stages.{stage.name}.set.{key}: '{match.group(0)}'"
                earlier, what = match.groups()
                if earlier not in seen:
                    earlier = ", ".join(name for name in seen if name != PIPELINE) or "none"
                    raise RapidError(f"{where} names no earlier stage; earlier: {earlier}")
                if what not in STAGE_OUTPUTS[seen[earlier]]:
                    raise RapidError(f"{where}: stage '{earlier}' is a {seen[earlier]} job, which leaves "
                                     f"{', '.join(STAGE_OUTPUTS[seen[earlier]])}; not a {what}")
        seen[stage.name] = load_stage(stage).job.kind


# An RLlib job's keys that are not its body: a sweep names its own (and its trainable takes
# `from_sweep` keys such as stop from the sweep itself).
NOT_BODY = ("kind", "name", "description", "storage_path")


def _expand_config_from(data: dict[str, Any], path: Path, source: str) -> None:
    """A sweep's `config_from: {spec: FILE, profile: NAME}`: that RLlib job file (relative to the
    sweep's), with its profile, becomes the body of `config:`, which the sweep's own `config:` then
    amends. The resolved spec holds the expanded config, so a run's spec.yaml stands alone."""
    if data.get("kind") != "sweep" or "config_from" not in data:
        return  # elsewhere validation names the key as unknown
    ref = data.pop("config_from")
    if (not isinstance(ref, dict) or set(ref) - {"spec", "profile"} or not isinstance(ref.get("spec"), str)
            or not isinstance(ref.get("profile"), str | None)):
        raise RapidError(f"{source}: config_from: expected {{spec: <an rllib job file>, profile: <optional name>}}")
    try:
        base = load_spec(path.parent / str(ref["spec"]), ref.get("profile"), kinds=("rllib",)).resolved
    except RapidError as err:
        raise RapidError(f"{source}: config_from.spec: {err}") from None
    from_sweep = registry.TRAINABLES.entry("rllib").extra["from_sweep"]
    body = {key: value for key, value in base.items() if key not in (*NOT_BODY, *from_sweep)}
    config = data.get("config") or {}
    if not isinstance(config, dict):
        raise RapidError(f"{source}: config: expected a mapping of changes to config_from's job, got {config!r}")
    data["config"] = deep_merge(body, config)


def load_spec(
    path: str | Path,
    profile: str | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    values: dict[str, Any] | None = None,
    kinds: tuple[str, ...] = KINDS,
) -> LoadedSpec:
    """Read, apply the profile, `--set KEY=VALUE` overrides and dotted-key `values`, validate.

    Any bad input raises RapidError (exit status 2); `kinds` limits the kinds accepted.
    """
    path = Path(path)
    source = str(path)
    data, lines = read_yaml(path)
    data = _apply_profile(data, profile, source)
    _expand_config_from(data, path, source)
    _apply_overrides(data, list(overrides))
    for key, value in (values or {}).items():
        set_path(data, key, value)
    data.setdefault("name", path.stem)
    job = validate_job(data, source, lines, kinds=kinds)
    if isinstance(job, PipelineJob):
        _check_pipeline(job, path, data, profile)
    return LoadedSpec(path=path, job=job, resolved=data, profile=profile, overrides=list(overrides))


def profiles_of(path: str | Path) -> list[str]:
    """The profile names a spec file defines."""
    profiles = read_yaml(Path(path))[0].get("profiles") or {}
    return list(profiles) if isinstance(profiles, dict) else []


def load_run_job(run: RunDir) -> Job:
    """The job a run folder was started with (its resolved spec.yaml)."""
    if not run.exists(SPEC):
        raise RapidError(f"{run.uri}: not a rapid run folder (no {SPEC}); expected results/<job>/<timestamp>/")
    return validate_job(yaml.load(run.read_bytes(SPEC), Loader=SpecLoader), f"{run.uri}/{SPEC}")

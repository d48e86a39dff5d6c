"""The job spec: one strict pydantic model per `kind` (rllib, sweep, pipeline).

Every field says what it means; unknown keys and wrong types are errors, and names of
envs, modules, algorithms, trainables, searchers and schedulers must be registered.
"""

import inspect
import re
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from rapid.platform import registry
from rapid.platform.errors import RapidError, did_you_mean
from rapid.platform.figures import FLATTENED, HEADLINE_FIGURES
from rapid.platform.plugins import Section, SettingsError, validate_settings
from rapid.platform.schema_errors import KeyProblem, unknown_key

KINDS = ("rllib", "sweep", "pipeline")


class Strict(BaseModel):
    """Unknown keys are errors; "5" is not an integer."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


def _registered(reg: registry.Registry, name: str) -> str:
    try:
        reg.entry(name)
    except RapidError as err:
        raise ValueError(str(err)) from None
    return name


class Resources(Strict):
    """What an RLlib job asks of the cluster."""

    env_runners: int = Field(1, ge=0, description="EnvRunner actors stepping envs (0: step in the trial's process)")
    envs_per_env_runner: int = Field(1, ge=1, description="vectorized envs inside each EnvRunner")
    cpus_per_env_runner: float = Field(1, gt=0, description="CPUs reserved per EnvRunner")
    gpus_per_env_runner: float = Field(0, ge=0, description="GPUs reserved per EnvRunner (rendering, big policies)")
    learners: int = Field(0, ge=0, description="remote Learner actors (0: one learner in the trial's process)")
    cpus_per_learner: float = Field(1, gt=0, description="CPUs reserved per Learner")
    gpus_per_learner: float = Field(0, ge=0, description="GPUs per Learner (a GPU learner on a cluster)")


class Stop(Strict):
    """When a run ends: whichever criterion is met first."""

    env_steps: int | None = Field(None, gt=0, description="env steps sampled in total")
    wall_time_s: float | None = Field(None, gt=0, description="seconds of training")
    iterations: int | None = Field(None, gt=0, description="training iterations")
    metric: dict[str, float] = Field({}, description="metric name -> value: stop once the metric reaches it")

    @model_validator(mode="after")
    def _needs_one(self) -> "Stop":
        if not (self.env_steps or self.wall_time_s or self.iterations or self.metric):
            raise ValueError("give at least one of env_steps, wall_time_s, iterations, metric")
        return self


class Checkpoint(Strict):
    """How often the run saves what it needs to resume."""

    every: int = Field(10, ge=1, description="iterations between checkpoints")
    keep: int | None = Field(3, ge=1, description="newest checkpoints kept (null: all)")
    at_end: bool = Field(True, description="also save when the run stops")
    replay_buffer: bool = Field(True, description="off-policy jobs save their replay buffer too: a resumed run keeps its data")


class Evaluation(Strict):
    """Periodic evaluation episodes on separate EnvRunners."""

    every: int = Field(..., ge=1, description="iterations between evaluations")
    episodes: int = Field(10, ge=1, description="episodes per evaluation")
    env_runners: int = Field(0, ge=0, description="evaluation EnvRunners (0: the trial's process)")
    explore: bool = Field(False, description="sample actions (true) or take the deterministic one")
    env_config: dict[str, Any] = Field({}, description="env_config overrides for evaluation (e.g. no randomization)")


class Policy(Strict):
    """The RLModule and its settings."""

    module: str = Field("default", description="a registered RLModule (`rapid list`)")
    model_config_: dict[str, Any] = Field({}, alias="model_config", description="the module's model_config")
    init_checkpoint: str | None = Field(None, description="start from the module weights of this checkpoint")

    @field_validator("module")
    @classmethod
    def _known_module(cls, name: str) -> str:
        return _registered(registry.MODULES, name)

    @field_validator("model_config_")
    @classmethod
    def _known_model_config_keys(cls, config: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        module = info.data.get("module")
        fields = registry.MODULES.entry(module).extra.get("config_fields") if module else None
        if fields is not None:
            allowed = fields()
            for key in config:
                if key not in allowed:
                    raise KeyProblem(key, f"unknown key: not a setting of module '{module}'{did_you_mean(key, allowed)}")
        return config


def central_actor_keys() -> list[str]:
    """Plug-ins with a central actor: its figures are named `<key>/...`."""
    return [e.name for reg in (registry.WRAPPERS, registry.SECTIONS) for e in reg if e.load().central_actor is not None]


def _rllib_figure(name: str) -> str:
    """A figure an RLlib job reports: a headline name or a path under env_runners/, learners/,
    evaluation/. Anything else would never appear, and a stop on it would never fire."""
    sections = (*FLATTENED, *central_actor_keys())
    if name in HEADLINE_FIGURES or name.split("/", 1)[0] in sections and "/" in name:
        return name
    prefixes = ", ".join(f"{p}/..." for p in sections)
    raise ValueError(
        f"'{name}' is not a figure an RLlib job reports{did_you_mean(name, HEADLINE_FIGURES)}; "
        f"expected one of {', '.join(HEADLINE_FIGURES)} or a path under {prefixes}"
    )


@cache
def training_keys(algorithm: str) -> frozenset[str]:
    """Arguments the algorithm's `AlgorithmConfig.training()` accepts, over its whole class chain."""
    keys: set[str] = set()
    for klass in registry.ALGORITHMS.get(algorithm).__mro__:
        method = klass.__dict__.get("training")
        if method is not None:
            params = inspect.signature(method).parameters
            keys |= {p for p, v in params.items() if p != "self" and v.kind is not v.VAR_KEYWORD}
    return frozenset(keys)


@cache
def numeric_training_defaults(algorithm: str) -> dict[str, int | float]:
    """Training arguments whose RLlib default is a plain number: a string there is a typo."""
    defaults = registry.ALGORITHMS.get(algorithm)()
    found = {k: getattr(defaults, k, None) for k in training_keys(algorithm)}
    return {k: v for k, v in found.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def unknown_policy(name: str, policies: dict[str, Any]) -> str:
    return f"unknown policy '{name}'{did_you_mean(name, policies)}; policies: {', '.join(policies)}"


# A policy's name is its RLlib module id.
POLICY_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class MultiAgent(BaseModel):
    """Several policies in one job: which agents each plays, and which of them learn.

    Plug-in keys (the league's `league:`) sit beside these and are checked with the job.
    """

    model_config = ConfigDict(extra="allow", strict=True)

    policies: dict[str, Policy] = Field(..., min_length=1, description="policy name -> its RLModule and model_config")
    policy_mapping: dict[str, str] | str = Field(
        ..., description="agent id glob -> policy, first match wins ({adversary_*: predator, '*': prey}); or a registered mapping"
    )
    policies_to_train: list[str] | None = Field(None, description="the policies that learn (null: all of them)")

    @field_validator("policies")
    @classmethod
    def _policy_names(cls, policies: dict[str, Policy]) -> dict[str, Policy]:
        for name in policies:
            if not POLICY_NAME.match(name):
                raise KeyProblem(name, "a policy name is letters, digits and _, not starting with a digit")
        return policies

    @field_validator("policy_mapping")
    @classmethod
    def _maps_to_known_policies(cls, mapping: dict[str, str] | str, info: ValidationInfo) -> dict[str, str] | str:
        if isinstance(mapping, str):
            return _registered(registry.MAPPINGS, mapping)
        policies = info.data.get("policies") or {}
        for pattern, policy in mapping.items():
            if policies and policy not in policies:
                raise KeyProblem(pattern, unknown_policy(policy, policies))
        return mapping

    @field_validator("policies_to_train")
    @classmethod
    def _trains_known_policies(cls, names: list[str] | None, info: ValidationInfo) -> list[str] | None:
        policies = info.data.get("policies") or {}
        for index, name in enumerate(names or []):
            if policies and name not in policies:
                raise KeyProblem(index, unknown_policy(name, policies))
        return names

    @property
    def trained(self) -> list[str]:
        """The policies that learn."""
        return list(self.policies) if self.policies_to_train is None else list(self.policies_to_train)


class JobCommon(Strict):
    """Keys every kind shares."""

    name: str = Field(
        ..., pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$", description="job name: results go to <storage_path>/<name>/<timestamp>/"
    )
    description: str = Field("", description="one line on what the job is for")
    storage_path: str = Field("results", description="where results land: a local path or a pyarrow URI (s3://...)")


class RLlibJob(JobCommon):
    """An RLlib algorithm trained on one env, under Tune for checkpoints and restarts."""

    kind: Literal["rllib"] = "rllib"
    algorithm: str = Field(..., description="a registered algorithm: PPO, APPO, IMPALA, SAC, DQN, ...")
    env: str = Field(..., description="a registered env id (`rapid list`)")
    env_config: dict[str, Any] = Field({}, description="keyword arguments for the env")
    policy: Policy = Field(default_factory=Policy)
    training: dict[str, Any] = Field({}, description="arguments of the algorithm's AlgorithmConfig.training()")
    resources: Resources = Field(default_factory=Resources)
    evaluation: Evaluation | None = None
    stop: Stop
    checkpoint: Checkpoint = Field(default_factory=Checkpoint)
    metric: str = Field("episode_return_mean", description="the workload's headline metric (a metrics column)")
    figures: list[str] = Field([], description="more figures (or globs: league/win_rate/*) to plot and put on the dashboard")
    seed: int | None = Field(None, description="seed for envs and modules")
    max_failures: int = Field(3, ge=0, description="restarts from the last checkpoint after a crash")
    callbacks: list[str] = Field([], description="registered RLlib callbacks (`rapid list callback`), run in this order")
    multi_agent: MultiAgent | None = Field(None, description="several policies in one job (null: one policy plays the env)")
    _sections: dict[str, Any] = PrivateAttr(default_factory=dict)

    # Plug-in sections, a workload's own top-level keys, are the extra keys, each validated by its schema.
    model_config = ConfigDict(extra="allow", strict=True, populate_by_name=True)

    @field_validator("callbacks")
    @classmethod
    def _known_callbacks(cls, names: list[str]) -> list[str]:
        for name in names:
            _registered(registry.CALLBACKS, name)
        return names

    @model_validator(mode="after")
    def _plugin_sections(self) -> "RLlibJob":
        """Every extra key is a registered section (under `multi_agent:` too), valid by its own schema and rules."""
        self._sections = {}
        self._validate_sections(self.model_extra or {}, None, (), type(self))
        if self.multi_agent is not None:
            self._validate_sections(self.multi_agent.model_extra or {}, "multi_agent", ("multi_agent",), MultiAgent)
        for name, section, settings in self.plugin_sections():
            if section.check is not None and settings is not None:
                try:
                    section.check(settings, self)
                except ValueError as err:
                    where = ("multi_agent",) if section.parent else ()
                    raise KeyProblem((*where, name), str(err)) from None
        return self

    def _validate_sections(self, extra: dict[str, Any], parent: str | None, where: tuple[str, ...], model: type) -> None:
        valid = [e.name for e in registry.SECTIONS if e.load().parent == parent]
        for key, value in extra.items():
            if key in registry.SECTIONS and key not in valid:
                home = registry.SECTIONS.get(key).parent
                place = f"under {home}: (it needs a {home.replace('_', '-')} job)" if home else "at the job's top level"
                raise KeyProblem((*where, key), f"'{key}' belongs {place}")
            if key not in valid:
                fields = [f.alias or n for n, f in model.model_fields.items()] + valid
                raise KeyProblem((*where, key), unknown_key(key, fields))
            section: Section = registry.SECTIONS.get(key)
            try:
                self._sections[key] = None if value is None else validate_settings(section.schema, value, (*where, key))
            except SettingsError as err:
                path, message = err.found[0]
                raise KeyProblem(path, message) from None

    def section(self, name: str) -> Any:
        """A plug-in section's settings: the spec's, or the section's default where it says nothing."""
        return self._sections[name] if name in self._sections else registry.SECTIONS.get(name).default

    def plugin_sections(self) -> list[tuple[str, Section, Any]]:
        """(name, section, settings) of every registered section that applies to this job."""
        parents = (None, "multi_agent") if self.multi_agent is not None else (None,)
        found = []
        for entry in registry.SECTIONS:
            section = entry.load()
            if section.parent in parents:
                found.append((entry.name, section, self.section(entry.name)))
        return found

    @field_validator("algorithm")
    @classmethod
    def _known_algorithm(cls, name: str) -> str:
        return _registered(registry.ALGORITHMS, name)

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, name: str) -> str:
        return _rllib_figure(name)

    @field_validator("stop")
    @classmethod
    def _known_stop_metrics(cls, stop: "Stop") -> "Stop":
        for name in stop.metric:
            try:
                _rllib_figure(name)
            except ValueError as err:
                raise KeyProblem(name, str(err)) from None
        return stop

    @field_validator("env")
    @classmethod
    def _known_env(cls, name: str) -> str:
        return _registered(registry.ENVS, name)

    @field_validator("training")
    @classmethod
    def _known_training_keys(cls, training: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        algorithm = info.data.get("algorithm")
        if algorithm is None:
            return training
        allowed = training_keys(algorithm)
        numbers = numeric_training_defaults(algorithm)
        for key, value in training.items():
            if key not in allowed:
                raise KeyProblem(
                    key,
                    f"unknown key: not an argument of {algorithm}'s AlgorithmConfig.training(){did_you_mean(key, allowed)}",
                )
            # A list is a schedule ([[step, value], ...]), which RLlib takes for lr and coefficients.
            if key in numbers and (isinstance(value, bool) or not isinstance(value, int | float | list)):
                raise KeyProblem(key, f"expected a number (RLlib's default is {numbers[key]!r}), got {value!r}")
        return training


class NamedOptions(Strict):
    """A registered searcher or scheduler and its constructor keywords."""

    name: str
    options: dict[str, Any] = Field({}, description="keyword arguments for its constructor")


class Search(NamedOptions):
    name: str = Field("basic_variant", description="a registered searcher")

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        return _registered(registry.SEARCHERS, name)


class Scheduler(NamedOptions):
    name: str = Field("fifo", description="a registered trial scheduler")

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        return _registered(registry.SCHEDULERS, name)


class TrialResources(Strict):
    cpu: float = Field(1, ge=0, description="CPUs per trial")
    gpu: float = Field(0, ge=0, description="GPUs per trial")


class SweepJob(JobCommon):
    """A Tune sweep: a registered trainable over a search space."""

    kind: Literal["sweep"] = "sweep"
    trainable: str = Field(..., description="a registered Tune trainable (`rapid list`)")
    config: dict[str, Any] = Field({}, description="the trainable's fixed config")
    param_space: dict[str, Any] = Field({}, description="dotted config key -> Tune search space, e.g. {grid_search: [...]}")
    metric: str = Field(..., description="the result key that ranks trials")
    mode: Literal["max", "min"] = "max"
    search: Search = Field(default_factory=Search)
    scheduler: Scheduler = Field(default_factory=Scheduler)
    num_samples: int = Field(1, ge=1, description="samples of the search space (each grid point num_samples times)")
    max_concurrent_trials: int | None = Field(None, ge=1)
    resources_per_trial: TrialResources | None = Field(None, description="for trainables that don't size themselves")
    stop: Stop
    checkpoint: Checkpoint = Field(default_factory=Checkpoint)
    max_failures: int = Field(1, ge=0, description="restarts per trial after a crash")
    group_by: str | None = Field(
        None,
        description="a param_space key (or one the searcher sets, e.g. epsilon): the report gives each value's mean and spread",
    )

    @field_validator("group_by")
    @classmethod
    def _group_by_a_searched_key(cls, key: str | None, info: ValidationInfo) -> str | None:
        searched = list(info.data.get("param_space") or {})
        search = info.data.get("search")
        suggestion = registry.SEARCHERS.entry(search.name).extra.get("suggestion") if search else None
        try:
            searched += list(suggestion(info.data.get("config") or {})) if suggestion else []
        except ValueError:
            pass  # a bad config (an unknown dataset) is reported by the trainable's own check, under its key
        if key is not None and key not in searched:
            raise ValueError(
                f"expected a param_space key or one the searcher sets ({', '.join(searched) or 'none'}), got {key!r}"
            )
        return key

    @field_validator("trainable")
    @classmethod
    def _known_trainable(cls, name: str) -> str:
        return _registered(registry.TRAINABLES, name)


class Stage(Strict):
    """One step of a pipeline: a spec file run as a job of its own."""

    name: str = Field(..., pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="referenced by later stages as {name.checkpoint}")
    spec: str = Field(..., description="a spec file, relative to the pipeline's file")
    profile: str | None = Field(None, description="the profile of that spec to use")
    set: dict[str, Any] = Field({}, description="dotted key -> value overrides; may name {stage.checkpoint} or {stage.run_dir}")


class PipelineJob(JobCommon):
    """Stages run in order; each stage's outputs are named by the stages after it."""

    kind: Literal["pipeline"] = "pipeline"
    stages: list[Stage] = Field(..., min_length=1)

    @model_validator(mode="after")
    def _unique_stage_names(self) -> "PipelineJob":
        names = [s.name for s in self.stages]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"stage name '{name}' is used twice")
        return self


Job = RLlibJob | SweepJob | PipelineJob
MODELS: dict[str, type[Job]] = {"rllib": RLlibJob, "sweep": SweepJob, "pipeline": PipelineJob}

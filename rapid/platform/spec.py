"""The job spec: one strict pydantic model per `kind` (rllib, sweep, data, pipeline).

Every field says what it means; unknown keys and wrong types are errors, and names of
envs, modules, algorithms, sections, callbacks, trainables, searchers, schedulers and data
steps must be registered. The parts they are built from are in spec_parts.py.
"""

from typing import Any, Literal

from pydantic import ConfigDict, Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from rapid.platform import registry
from rapid.platform.errors import RapidError, did_you_mean
from rapid.platform.plugins import DataStep, Section, SettingsError, validate_settings
from rapid.platform.schema_errors import KeyProblem, unknown_key
from rapid.platform.spec_parts import (
    MAX_ACTORS,
    Checkpoint,
    Evaluation,
    Health,
    JobCommon,
    MultiAgent,
    Policy,
    Resources,
    Stop,
    Strict,
    numeric_training_defaults,
    registered,
    rllib_figure,
    training_keys,
    unknown_policy,
)
from rapid.platform.spec_ranges import MAX_SEED, training_value_problem

KINDS = ("rllib", "sweep", "data", "pipeline")


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
    seed: int | None = Field(None, ge=0, le=MAX_SEED, description="seed for envs and modules")
    max_failures: int = Field(3, ge=0, description="restarts from the last checkpoint after a crash")
    health: Health = Field(default_factory=Health)
    callbacks: list[str] = Field([], description="registered RLlib callbacks (`rapid list callback`), run in this order")
    multi_agent: MultiAgent | None = Field(None, description="several policies in one job (null: one policy plays the env)")
    _sections: dict[str, Any] = PrivateAttr(default_factory=dict)

    # Plug-in sections, a workload's own top-level keys, are the extra keys, each validated by its schema.
    model_config = ConfigDict(extra="allow", strict=True, populate_by_name=True)

    @field_validator("callbacks")
    @classmethod
    def _known_callbacks(cls, names: list[str]) -> list[str]:
        for name in names:
            registered(registry.CALLBACKS, name)
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

    @model_validator(mode="after")
    def _evaluation_mapping(self) -> "RLlibJob":
        mapping = self.evaluation.policy_mapping if self.evaluation is not None else None
        if mapping is None:
            return self
        if self.multi_agent is None:
            raise KeyProblem(("evaluation", "policy_mapping"), "maps agents to policies; it needs a multi_agent: job")
        for pattern, chosen in mapping.items():
            for policy in [chosen] if isinstance(chosen, str) else chosen:
                if policy not in self.multi_agent.policies:
                    raise KeyProblem(("evaluation", "policy_mapping", pattern), unknown_policy(policy, self.multi_agent.policies))
        return self

    def _validate_sections(self, extra: dict[str, Any], parent: str | None, where: tuple[str, ...], model: type) -> None:
        fields = [f.alias or n for n, f in model.model_fields.items()]
        valid = []
        for entry, section in registry.SECTIONS.loaded():
            if section.parent == parent:
                if entry.name in fields:
                    raise RapidError(f"section '{entry.name}' of {entry.owner} has the name of a key rapid owns; rename it")
                valid.append(entry.name)
        for key, value in extra.items():
            if key in registry.SECTIONS and key not in valid:
                home = registry.SECTIONS.get(key).parent
                place = f"under {home}: (it needs a {home.replace('_', '-')} job)" if home else "at the job's top level"
                raise KeyProblem((*where, key), f"'{key}' belongs {place}")
            if key not in valid:
                raise KeyProblem((*where, key), unknown_key(key, fields + valid))
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
        return [(e.name, section, self.section(e.name)) for e, section in registry.SECTIONS.loaded() if section.parent in parents]

    @field_validator("algorithm")
    @classmethod
    def _known_algorithm(cls, name: str) -> str:
        return registered(registry.ALGORITHMS, name)

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, name: str) -> str:
        return rllib_figure(name)

    @field_validator("stop")
    @classmethod
    def _known_stop_metrics(cls, stop: "Stop") -> "Stop":
        for name in stop.metric:
            try:
                rllib_figure(name)
            except ValueError as err:
                raise KeyProblem(name, str(err)) from None
        return stop

    @field_validator("env")
    @classmethod
    def _known_env(cls, name: str) -> str:
        return registered(registry.ENVS, name)

    @field_validator("env_config")
    @classmethod
    def _vector_threads(cls, env_config: dict[str, Any]) -> dict[str, Any]:
        threads = env_config.get("vector_threads", 1)
        if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= MAX_ACTORS:
            raise KeyProblem("vector_threads", f"expected a whole number of threads >= 1, got {threads!r}")
        return env_config

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
            problem = training_value_problem(key, value)
            if problem is not None:
                raise KeyProblem(key, problem)
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
        return registered(registry.SEARCHERS, name)


class Scheduler(NamedOptions):
    name: str = Field("fifo", description="a registered trial scheduler")

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        return registered(registry.SCHEDULERS, name)


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
    group_by: str | list[str] | None = Field(
        None,
        description="a param_space key (or one the searcher sets, e.g. epsilon), or a list of them: the report gives "
        "each value (each combination) its mean and spread",
    )

    @field_validator("group_by")
    @classmethod
    def _group_by_searched_keys(cls, group_by: str | list[str] | None, info: ValidationInfo) -> list[str] | None:
        """The keys as a list (one key is a list of one)."""
        keys = [group_by] if isinstance(group_by, str) else group_by
        if keys == []:
            raise ValueError("expected a param_space key or a non-empty list of them, got []")
        searched = list(info.data.get("param_space") or {})
        search = info.data.get("search")
        suggestion = registry.SEARCHERS.entry(search.name).extra.get("suggestion") if search else None
        try:
            searched += list(suggestion(info.data.get("config") or {})) if suggestion else []
        except ValueError:
            return keys  # a bad config (an unknown dataset) is reported by the trainable's own check, under its key
        for key in keys or []:
            if key not in searched:
                raise ValueError(
                    f"expected a param_space key or one the searcher '{search.name if search else '?'}' sets "
                    f"({', '.join(searched) or 'none'}), got {key!r}"
                )
        return keys

    @field_validator("trainable")
    @classmethod
    def _known_trainable(cls, name: str) -> str:
        return registered(registry.TRAINABLES, name)


class DataJob(JobCommon):
    """A registered data step (`rapid list data_step`): a Ray job that writes or transforms a
    columnar dataset, in `<run>/dataset/`; a later pipeline stage names it as {stage.dataset}."""

    kind: Literal["data"] = "data"
    step: str = Field(..., description="a registered data step")
    config: dict[str, Any] = Field({}, description="the step's settings, checked by its own schema")
    _settings: Any = PrivateAttr(None)

    @field_validator("step")
    @classmethod
    def _known_step(cls, name: str) -> str:
        return registered(registry.DATA_STEPS, name)

    @model_validator(mode="after")
    def _step_settings(self) -> "DataJob":
        try:
            self._settings = validate_settings(self.data_step.schema, self.config, ("config",))
        except SettingsError as err:
            path, message = err.found[0]
            raise KeyProblem(path, message) from None
        return self

    @property
    def data_step(self) -> DataStep:
        return registry.DATA_STEPS.get(self.step)

    @property
    def settings(self) -> Any:
        """`config` validated by the step's schema."""
        return self._settings


class Stage(Strict):
    """One step of a pipeline: a spec file run as a job of its own."""

    name: str = Field(
        ..., pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="referenced by later stages as {name.checkpoint}, {name.dataset} ('pipeline' names the pipeline itself)",
    )
    spec: str = Field(..., description="a spec file, relative to the pipeline's file")
    profile: str | None = Field(None, description="the profile of that spec to use (null: the pipeline's, where the spec has it)")
    set: dict[str, Any] = Field(
        {}, description="dotted key -> value overrides; may name {stage.checkpoint}, {stage.dataset}, {stage.run_dir} and "
        "{pipeline.run_dir}",
    )

    @field_validator("name")
    @classmethod
    def _not_pipeline(cls, name: str) -> str:
        if name == "pipeline":
            raise ValueError("'pipeline' names the pipeline itself ({pipeline.run_dir}); give the stage another name")
        return name


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


Job = RLlibJob | SweepJob | DataJob | PipelineJob
MODELS: dict[str, type[Job]] = {"rllib": RLlibJob, "sweep": SweepJob, "data": DataJob, "pipeline": PipelineJob}

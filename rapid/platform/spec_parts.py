"""The building blocks of a job spec: strict models, resources, stop and checkpoint rules, policies,
the multi-agent section, and the checks against RLlib and the registry that they share."""

import inspect
import re
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from rapid.platform import registry
from rapid.platform.errors import RapidError, did_you_mean
from rapid.platform.figures import FLATTENED, HEADLINE_FIGURES
from rapid.platform.plugins import Strict
from rapid.platform.schema_errors import KeyProblem
from rapid.platform.spec_ranges import width_problem


def registered(reg: registry.Registry, name: str) -> str:
    try:
        reg.entry(name)
    except RapidError as err:
        raise ValueError(str(err)) from None
    return name


# Far above any cluster's size, far below what would make building the resource request slow.
MAX_ACTORS = 10_000
MAX_PER_ACTOR = 1_000


class Resources(Strict):
    """What an RLlib job asks of the cluster."""

    env_runners: int = Field(
        1, ge=0, le=MAX_ACTORS, description="EnvRunner actors stepping envs (0: step in the trial's process)"
    )
    envs_per_env_runner: int = Field(1, ge=1, le=MAX_ACTORS, description="vectorized envs inside each EnvRunner")
    cpus_per_env_runner: float = Field(1, gt=0, le=MAX_PER_ACTOR, description="CPUs reserved per EnvRunner")
    gpus_per_env_runner: float = Field(
        0, ge=0, le=MAX_PER_ACTOR, description="GPUs reserved per EnvRunner (rendering, big policies)"
    )
    learners: int = Field(
        0, ge=0, le=MAX_ACTORS, description="remote Learner actors (0: one learner in the trial's process)"
    )
    cpus_per_learner: float = Field(1, gt=0, le=MAX_PER_ACTOR, description="CPUs reserved per Learner")
    gpus_per_learner: float = Field(0, ge=0, le=MAX_PER_ACTOR, description="GPUs per Learner (a GPU learner on a cluster)")


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


class Health(Strict):
    """When a run that goes on is a run that failed: it then ends `stalled` or `error` with the reason."""

    stall_after_s: float = Field(300, gt=0, description="seconds without a sampled env step before the run is stalled")
    max_runner_restarts: int = Field(3, ge=0, description="EnvRunner restarts tolerated within restart_window_s")
    restart_window_s: float = Field(600, gt=0, description="the window the restarts are counted in")
    finite_check: bool = Field(True, description="end the run when a loss or a weight becomes NaN or infinite")


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
    policy_mapping: dict[str, str | list[str]] | None = Field(
        None, description="multi-agent: agent id glob -> the policy it plays in evaluation, or a list of policies, one "
        "drawn per episode (fixed partners); null: the job's mapping")


class Policy(Strict):
    """The RLModule and its settings."""

    module: str = Field("default", description="a registered RLModule (`rapid list`)")
    model_config_: dict[str, Any] = Field({}, alias="model_config", description="the module's model_config")
    init_checkpoint: str | None = Field(None, description="start from the module weights of this checkpoint")

    @field_validator("module")
    @classmethod
    def _known_module(cls, name: str) -> str:
        return registered(registry.MODULES, name)

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
        for key, value in config.items():
            problem = width_problem(key, value)
            if problem is not None:
                raise KeyProblem(key, problem)
        return config

    def module_spec(self, observation_space: Any = None, action_space: Any = None) -> Any:
        """Its RLModuleSpec; with the spaces where the module is built without an EnvRunner's env
        (a multi-agent policy, a KL reference, a policy cloned from recorded frames)."""
        from ray.rllib.core.rl_module.rl_module import RLModuleSpec

        return RLModuleSpec(module_class=registry.MODULES.get(self.module), model_config=dict(self.model_config_),
                            observation_space=observation_space, action_space=action_space)


def central_actor_keys() -> list[str]:
    """Plug-ins with a central actor: its figures are named `<key>/...`."""
    plugins = [*registry.WRAPPERS.loaded(), *registry.SECTIONS.loaded()]
    return [entry.name for entry, plugin in plugins if plugin.central_actor is not None]


def rllib_figure(name: str) -> str:
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
    """The message for a policy name the job does not define."""
    return f"unknown policy '{name}'{did_you_mean(name, policies)}; policies: {', '.join(policies)}"


# A policy's name is its RLlib module id.
POLICY_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class MultiAgent(BaseModel):
    """Several policies in one job: which agents each plays, and which of them learn.

    Plug-in keys (the league's `league:`) sit beside these and are checked with the job.
    """

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)

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
            return registered(registry.MAPPINGS, mapping)
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

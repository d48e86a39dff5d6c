"""What a workload plugs into an RLlib job, besides envs, modules and algorithms.

A plug-in owns keys of the spec and validates them with its own schema:
- an `EnvWrapper` owns an `env_config:` key: it wraps every env the job makes, in `order`;
- a `Section` owns a key of the job itself, or of its `multi_agent:` mapping
  (`parent="multi_agent"`, as the league's `league:`), and adds to the AlgorithmConfig.
Either may start a central actor (one named Ray actor per trial, saved with its checkpoints)
and a section may add RLlib callbacks and learner loss terms. Register them in WRAPPERS and
SECTIONS (`rapid.platform.registry`); docs/adding_a_workload.md walks through one.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from rapid.platform.schema_errors import problems

Path = tuple[str | int, ...]
# (settings, job, actor name) -> the started actor handle; the actor has get_state(),
# set_state(state) and metrics() -> {"<key>/<figure>": value}.
CentralActor = Callable[[Any, Any, str], Any]


class Strict(BaseModel):
    """The base of every schema, rapid's and a plug-in's: unknown keys are errors, "5" is not an
    integer, and a float setting is finite (.inf and .nan are refused with the key's name)."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True, allow_inf_nan=False)


@dataclass(frozen=True)
class EnvWrapper:
    """An env_config key that wraps the env: `wrap(env, settings, actor)` returns the wrapped env
    (`actor` is the plug-in's central actor, None where there is none: preflight, `rapid eval`).

    A wrapper with a `default` wraps every env whose env_config leaves its key out (the key set
    to null turns it off); `episode_metrics` are read from each episode's last info, as an env's are.
    """

    wrap: Callable[[Any, Any, Any], Any]
    schema: Any
    order: int = 100  # place in the stack: a lower one sits closer to the env
    central_actor: CentralActor | None = None
    default: Any = None
    episode_metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DataStep:
    """A `kind: data` job's step: a Ray job that writes (or transforms) a columnar dataset.

    - `run(settings, out, restore)` writes parquet shards into `out` (a `datasets.Dataset`) and
      returns its figures; with `restore` it keeps the shards a killed run already wrote.
    - `inputs(settings)`: the paths it reads, `{key: (path, what it should be)}`, checked before Ray starts.
    - `check(settings)`: deeper checks once every input exists (a checkpoint of the right kind, an
      env that builds); raise ValueError naming the key.
    - `resources(settings)`: what it reserves at once (`{"CPU": actors}`): `rapid run` refuses a
      job the cluster can never hold, where its actors would wait forever.
    - `metric`: the figure of `run`'s that the summary shows first (the rows it wrote, say).
    """

    schema: Any
    run: Callable[[Any, Any, bool], dict[str, float]]
    metric: str
    inputs: Callable[[Any], dict[str, tuple[str, str]]] = lambda settings: {}
    check: Callable[[Any], None] | None = None
    resources: Callable[[Any], dict[str, float]] = lambda settings: {}


@dataclass(frozen=True)
class Section:
    """A key of an RLlib job that a plug-in owns.

    - `check(settings, job)`: rules across keys (the algorithm it needs); raise ValueError.
    - `check_env(settings, env, job)`: the job's env, built once before Ray starts; return what
      keeps the plug-in from working on it, or None.
    - `configure(config, job, settings)`: change the AlgorithmConfig; called for every job, with
      `default` when the spec leaves the key out.
    - `callbacks(settings, job, actor)`: RLlib callback classes (or partials) to compose.
    - `loss_term(settings, job)`: a `LossTerm` the learner adds to every trained module's loss.
    `callbacks`, `loss_term` and `central_actor` are called only when the settings are not None.
    """

    schema: Any
    description: str
    default: Any = None
    parent: str | None = None
    check: Callable[[Any, Any], None] | None = None
    check_env: Callable[[Any, Any, Any], str | None] | None = None
    configure: Callable[[Any, Any, Any], None] | None = None
    callbacks: Callable[[Any, Any, Any], list[Any]] | None = None
    loss_term: Callable[[Any, Any], Any] | None = None
    central_actor: CentralActor | None = None


class SettingsError(ValueError):
    """A plug-in's settings do not fit its schema: every problem with its key path."""

    def __init__(self, found: list[tuple[Path, str]]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, path))}: {message}" for path, message in found))
        self.found = found


def validate_settings(schema: Any, value: Any, where: Path) -> Any:
    """`value` validated as `schema`; a SettingsError whose paths start at `where`."""
    try:
        return TypeAdapter(schema).validate_python(value)
    except ValidationError as err:
        raise SettingsError([(where + path, message) for path, message in problems(err, schema)]) from None

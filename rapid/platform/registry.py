"""Everything a spec can name, by name: envs, env wrappers, RLModules, algorithms, spec sections,
callbacks, policy mappings, trainables, searchers, schedulers, data steps and scripted players.

A spec never names a Python path. Plug-ins register their parts when imported: rapid's own
are the packages under its layer folders (`rapid/envs/`, `rapid/policies/`, `rapid/training/`,
`rapid/sweeps/`, found by walking them: a new folder needs no list edited), an outside
package's are the modules or functions it names in the entry-point group `rapid.plugins`.
`load_all()` does both, so that every process (CLI, Tune trial, EnvRunner) sees the same names.
"""

import importlib
import pkgutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from rapid.platform.errors import RapidError, close_names

# The packages whose subpackages are rapid's own plug-ins.
LAYERS = ("rapid.envs", "rapid.policies", "rapid.training", "rapid.sweeps")
# Outside packages declare `[project.entry-points."rapid.plugins"] name = "module"` (or "module:function").
ENTRY_POINT_GROUP = "rapid.plugins"
RAPID = "rapid"


@dataclass(frozen=True)
class Entry:
    """One registered thing: how to get it, one line that says what it is, and who registered it."""

    name: str
    load: Callable[[], Any]
    summary: str
    extra: dict[str, Any] = field(default_factory=dict)
    owner: str = RAPID


class Registry:
    """Named entries of one kind, e.g. every env id a spec may use."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def add(self, name: str, load: Callable[[], Any], summary: str, **extra: Any) -> None:
        """Register `name`; `load()` returns the thing itself, imported lazily."""
        owner = _owner or f"{RAPID} ({sys._getframe(1).f_globals.get('__name__')})"
        if name in self._entries:
            first = self._entries[name].owner
            raise RapidError(f"{self.kind} '{name}' is registered twice: by {first} and by {owner}; rename one of them")
        self._entries[name] = Entry(name, load, summary, extra, owner)

    def entry(self, name: str) -> Entry:
        """The entry for `name`, or a RapidError that lists the close names (and broken plug-ins)."""
        load_all()
        try:
            return self._entries[name]
        except KeyError:
            near = close_names(name, self._entries)
            hint = f"close names: {', '.join(near)}" if near else "`rapid list` prints them all"
            broken = "".join(f"; {problem}" for problem in BROKEN.values())
            raise RapidError(f"unknown {self.kind} '{name}'; {hint}{broken}") from None

    def get(self, name: str) -> Any:
        """The registered thing itself."""
        return self.entry(name).load()

    def names(self) -> list[str]:
        """Every registered name."""
        load_all()
        return list(self._entries)

    def loaded(self) -> list[tuple[Entry, Any]]:
        """Every entry with its thing; an outside plug-in's entry whose load fails is reported and
        skipped (rapid's own failing is a bug, and raises)."""
        found = []
        for entry in self:
            try:
                found.append((entry, entry.load()))
            except Exception as err:
                if entry.owner.startswith(RAPID):
                    raise
                key = f"{self.kind} {entry.name}"
                if key not in BROKEN:
                    BROKEN[key] = f"{self.kind} '{entry.name}' of {entry.owner} failed to load and is skipped: {err}"
                    print(f"rapid: {BROKEN[key]}", file=sys.stderr)
        return found

    def __contains__(self, name: str) -> bool:
        load_all()
        return name in self._entries

    def __iter__(self) -> Iterator[Entry]:
        load_all()
        return iter(sorted(self._entries.values(), key=lambda e: e.name.lower()))


ENVS = Registry("env")
WRAPPERS = Registry("wrapper")
MODULES = Registry("module")
ALGORITHMS = Registry("algorithm")
SECTIONS = Registry("section")
CALLBACKS = Registry("callback")
MAPPINGS = Registry("mapping")
TRAINABLES = Registry("trainable")
SEARCHERS = Registry("searcher")
SCHEDULERS = Registry("scheduler")
DATA_STEPS = Registry("data_step")
PLAYERS = Registry("player")
ALL = (ENVS, WRAPPERS, MODULES, ALGORITHMS, SECTIONS, CALLBACKS, MAPPINGS, TRAINABLES, SEARCHERS, SCHEDULERS, DATA_STEPS, PLAYERS)

# Plug-in name -> why it could not be loaded; the others stay usable.
BROKEN: dict[str, str] = {}
_loaded = False
_owner: str | None = None  # the outside plug-in being loaded (rapid's own parts name their module)


def import_attr(module: str, name: str) -> Any:
    """`module.name`, imported when first needed (RLlib and Tune are slow to import)."""
    return getattr(importlib.import_module(module), name)


@contextmanager
def _registering_as(owner: str | None) -> Iterator[None]:
    global _owner
    previous, _owner = _owner, owner
    try:
        yield
    finally:
        _owner = previous


def _own_packages() -> Iterator[str]:
    """Every package under rapid's layer folders, parents first."""
    for layer in LAYERS:
        yield layer
        module = importlib.import_module(layer)
        for info in pkgutil.walk_packages(module.__path__, f"{layer}."):
            if info.ispkg:
                yield info.name


def _describe(point: EntryPoint) -> str:
    dist = point.dist
    package = f"package {dist.name} {dist.version}" if dist is not None else "no package"
    return f"plug-in '{point.name}' ({package}, {point.value})"


def _load_plugin(point: EntryPoint) -> None:
    """Import an outside plug-in (calling it when it names a function). A plug-in that fails to
    import is reported and skipped; one that claims a taken name stops everything (RapidError)."""
    owner = _describe(point)
    with _registering_as(owner):
        try:
            loaded = point.load()
            if callable(loaded):
                loaded()
        except RapidError:
            raise
        except Exception as err:  # any failure of someone else's code: the other plug-ins stay usable
            BROKEN[point.name] = f"{owner} failed to load and is skipped: {type(err).__name__}: {err}"
            print(f"rapid: {BROKEN[point.name]}", file=sys.stderr)


def load_all() -> None:
    """Import rapid's plug-in packages, then the outside ones (once per process)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for package in _own_packages():
        importlib.import_module(package)
    for point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda p: p.name):
        _load_plugin(point)
    for name in WRAPPERS._entries.keys() & SECTIONS._entries.keys():
        owners = f"{WRAPPERS._entries[name].owner} and {SECTIONS._entries[name].owner}"
        raise RapidError(f"'{name}' is both an env wrapper and a spec section (registered by {owners}); rename one of them")

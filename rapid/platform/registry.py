"""Everything a spec can name, by name: envs, RLModules, algorithms, trainables, searchers, schedulers.

A spec never names a Python path. Workload packages register their parts when imported;
`load_all()` imports them so that every process (CLI, Tune trial, EnvRunner) sees the same
names.
"""

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from rapid.platform.errors import RapidError, close_names


@dataclass(frozen=True)
class Entry:
    """One registered thing: how to get it and one line that says what it is."""

    name: str
    load: Callable[[], Any]
    summary: str
    extra: dict[str, Any] = field(default_factory=dict)


class Registry:
    """Named entries of one kind, e.g. every env id a spec may use."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def add(self, name: str, load: Callable[[], Any], summary: str, **extra: Any) -> None:
        """Register `name`; `load()` returns the thing itself, imported lazily."""
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._entries[name] = Entry(name, load, summary, extra)

    def entry(self, name: str) -> Entry:
        """The entry for `name`, or a RapidError that lists the close names."""
        load_all()
        try:
            return self._entries[name]
        except KeyError:
            near = close_names(name, self._entries)
            hint = f"close names: {', '.join(near)}" if near else "`rapid list` prints them all"
            raise RapidError(f"unknown {self.kind} '{name}'; {hint}") from None

    def get(self, name: str) -> Any:
        """The registered thing itself."""
        return self.entry(name).load()

    def __iter__(self) -> Iterator[Entry]:
        load_all()
        return iter(sorted(self._entries.values(), key=lambda e: e.name.lower()))


ENVS = Registry("env")
MODULES = Registry("module")
ALGORITHMS = Registry("algorithm")
TRAINABLES = Registry("trainable")
SEARCHERS = Registry("searcher")
SCHEDULERS = Registry("scheduler")
ALL = (ENVS, MODULES, ALGORITHMS, TRAINABLES, SEARCHERS, SCHEDULERS)

# Packages whose import registers their parts.
_PLUGIN_PACKAGES = ("rapid.envs", "rapid.policies", "rapid.training", "rapid.sweeps")
_loaded = False


def import_attr(module: str, name: str) -> Any:
    """`module.name`, imported when first needed (RLlib and Tune are slow to import)."""
    return getattr(importlib.import_module(module), name)


def load_all() -> None:
    """Import every package that registers parts (once per process)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for package in _PLUGIN_PACKAGES:
        importlib.import_module(package)

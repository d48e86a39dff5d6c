"""Seeded mutations of a job spec, as a careless or hurried user would write them.

Each mutation changes one key of a shipped job (drops it, misspells it, gives it a value of
another type, or a number out of any sane range) and says which key a good error must name.
"""

import copy
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

Path = tuple[str | int, ...]
# Numbers no setting accepts in every place: the fuzz suite takes them as "accepted, or an error naming the key".
ODD_NUMBERS = (-1, 0, -0.5, 10**30, 2**70, float("inf"), float("-inf"))
NAN = float("nan")


@dataclass
class Mutation:
    """One changed copy of a spec: what changed, where, and whether it can never be valid."""

    what: str
    path: Path
    data: dict[str, Any]
    must_fail: bool = False
    dropped: Any = None  # the value a "drop" removed

    @property
    def key(self) -> str:
        """The key a good error message names: the innermost mapping key on the path."""
        return next(str(p) for p in reversed(self.path) if isinstance(p, str))

    @property
    def profile(self) -> str | None:
        """The profile a mutation inside `profiles:` needs to be loaded with to be seen."""
        return str(self.path[1]) if len(self.path) > 2 and self.path[0] == "profiles" else None


def paths(node: Any, prefix: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every key and list item below `node`, outermost first."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield prefix + (key,), value
        yield from paths(value, prefix + (key,))


def _set(data: dict[str, Any], path: Path, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(data)
    node: Any = changed
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return changed


def _rename(data: dict[str, Any], path: Path, new_key: str) -> dict[str, Any]:
    changed = copy.deepcopy(data)
    node: Any = changed
    for part in path[:-1]:
        node = node[part]
    node[new_key] = node.pop(path[-1])
    return changed


def _misspell(key: str, rng: random.Random) -> str:
    at = rng.randrange(len(key) + 1)
    return key[:at] + rng.choice("xqz") + key[at:]


def _other_type(value: Any) -> Any:
    if isinstance(value, bool):
        return "yes please"
    if isinstance(value, int | float):
        return "fast"
    if isinstance(value, str):
        return [value, value]
    if isinstance(value, list):
        return {"a": 1}
    if isinstance(value, dict):
        return [1, 2, 3]
    return 12345


def mutations(data: dict[str, Any], seed: int) -> list[Mutation]:
    """One of each kind of mutation at every key of `data`, the odd number drawn with `seed`."""
    rng = random.Random(seed)
    found = []
    for path, value in paths(data):
        if path[0] == "profiles" and len(path) == 2:
            continue  # a profile's name is free
        if isinstance(path[-1], str):
            found.append(Mutation("drop", path, _drop(data, path), dropped=value))
            misspelt = _misspell(path[-1], rng)
            found.append(Mutation(f"rename to {misspelt!r}", path[:-1] + (misspelt,), _rename(data, path, misspelt)))
        other = _other_type(value)
        found.append(Mutation(f"retype to {other!r}", path, _set(data, path, other)))
        if isinstance(value, int | float) and not isinstance(value, bool):
            odd = rng.choice(ODD_NUMBERS)
            found.append(Mutation(f"set to {odd!r}", path, _set(data, path, odd)))
            found.append(Mutation("set to nan", path, _set(data, path, NAN), must_fail=True))
    return found


def _drop(data: dict[str, Any], path: Path) -> dict[str, Any]:
    changed = copy.deepcopy(data)
    node: Any = changed
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]
    return changed

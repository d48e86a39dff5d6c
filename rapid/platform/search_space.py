"""Tune's search-space syntax written in YAML: `{loguniform: [1e-4, 1e-2]}`, `{grid_search: [...]}`."""

import math
from typing import Any

from ray import tune

from rapid.platform.errors import did_you_mean

# YAML key -> Tune function. These take the YAML list itself: {choice: [a, b, c]} ...
LIST_DOMAINS = {
    "grid_search": tune.grid_search,
    "choice": tune.choice,
    # {grid_range: [0, 1000]}: every integer in [0, 1000), e.g. each row of a recorded-curve file.
    "grid_range": lambda args: tune.grid_search(list(range(*args))),
}
# ... and these take its items as arguments: {loguniform: [1e-4, 1e-2]}.
ARGS_DOMAINS = {
    "uniform": tune.uniform,
    "quniform": tune.quniform,
    "loguniform": tune.loguniform,
    "qloguniform": tune.qloguniform,
    "randint": tune.randint,
    "qrandint": tune.qrandint,
    "lograndint": tune.lograndint,
    "randn": tune.randn,
    "qrandn": tune.qrandn,
}
DOMAINS = {**LIST_DOMAINS, **ARGS_DOMAINS}
# Ranges [lower, upper, (q)] whose bounds must be finite and ordered; a log range's lower one positive.
RANGES = ("uniform", "quniform", "loguniform", "qloguniform", "randint", "qrandint", "lograndint")
FLOAT_RANGES = ("uniform", "quniform", "loguniform", "qloguniform")
# Trials a sweep may ask for: grids multiply, and a billion-row grid would never finish.
MAX_TRIALS = 100_000


def grid_range_count(args: list[int]) -> int:
    """How many values `range(*args)` holds, without building it (any size of integer)."""
    start, stop, step = (0, args[0], 1) if len(args) == 1 else (*args, 1)[:3]
    return max(0, -((start - stop) // step)) if step > 0 else max(0, -((stop - start) // -step))


def _finite(value: int | float) -> bool:
    """A finite number a float can hold (an integer of 400 digits is neither)."""
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _range_problem(name: str, args: list[Any]) -> str | None:
    numbers = all(isinstance(a, int | float) and not isinstance(a, bool) for a in args)
    if not numbers or len(args) not in (2, 3) or not all(_finite(a) for a in args):
        return f"expected [lower, upper] (and q) as finite numbers, got {args!r}"
    lower, upper = args[:2]
    if name not in FLOAT_RANGES and not all(abs(a) < 2**63 for a in args):
        return f"expected integers of 64 bits (Tune samples them with numpy), got {args!r}"
    if not lower < upper:
        return f"expected lower < upper, got {args!r}"
    if name.startswith(("log", "qlog")) and lower <= 0:
        return f"a log scale needs lower > 0, got {args!r}"
    if len(args) == 3 and args[2] <= 0:
        return f"expected q > 0, got {args[2]!r}"
    return None


def is_search_space(value: Any) -> bool:
    """A one-key mapping whose key names a Tune domain."""
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in DOMAINS


def to_tune(key: str, value: Any) -> Any:
    """The Tune object for one param_space entry; a plain value stays a constant."""
    if isinstance(value, dict) and len(value) == 1 and not is_search_space(value):
        (name,) = value
        hint = did_you_mean(name, DOMAINS)
        if hint:
            raise ValueError(f"param_space.{key}: unknown search space '{name}'{hint}")
    if not is_search_space(value):
        return value
    ((name, args),) = value.items()
    if not isinstance(args, list) or not args:
        raise ValueError(f"param_space.{key}.{name}: expected a non-empty list, got {args!r}")
    integers = all(isinstance(a, int) and not isinstance(a, bool) for a in args)
    if name == "grid_range":
        if not (len(args) <= 3 and integers and (len(args) < 3 or args[2] != 0) and grid_range_count(args)):
            expected = "[start, stop] or [start, stop, step] integers with values between"
            raise ValueError(f"param_space.{key}.grid_range: expected {expected}, got {args!r}")
        if grid_range_count(args) > MAX_TRIALS:
            raise ValueError(f"param_space.{key}.grid_range: {grid_range_count(args):,} values; at most {MAX_TRIALS:,}")
    problem = _range_problem(name, args) if name in RANGES else None
    if name in ("randn", "qrandn") and not (len(args) >= 2 and all(isinstance(a, int | float) for a in args) and args[1] > 0):
        problem = f"expected [mean, sd] with sd > 0, got {args!r}"
    if problem is not None:
        raise ValueError(f"param_space.{key}.{name}: {problem}")
    if name in LIST_DOMAINS:
        return LIST_DOMAINS[name](args)
    if name in FLOAT_RANGES:
        args = [float(a) for a in args]  # Tune samples with numpy, which cannot take a Python int past 64 bits
    try:
        return ARGS_DOMAINS[name](*args)
    except (TypeError, ValueError) as err:
        raise ValueError(f"param_space.{key}.{name}: bad arguments {args!r}: {err}") from None


def grid_size(value: Any) -> int:
    """How many trials one sample of this param_space entry spreads over (a grid's length, else 1)."""
    if not is_search_space(value):
        return 1
    ((name, args),) = value.items()
    if name == "grid_range":
        return grid_range_count(args)
    return len(args) if name == "grid_search" else 1


def grid_points(value: Any) -> list[Any] | None:
    """The values of a `grid_search` entry (None for any other entry)."""
    return value["grid_search"] if is_search_space(value) and "grid_search" in value else None


def sample_value(value: Any) -> Any:
    """One value the space can take, to validate the config a trial would get."""
    if not is_search_space(value):
        return value
    ((name, args),) = value.items()
    if name == "grid_range":
        return range(*args)[-1]  # the last value: a row past the end of a file shows here
    if name in LIST_DOMAINS:
        return args[0]
    return to_tune("", value).sample()

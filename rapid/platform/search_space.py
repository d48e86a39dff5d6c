"""Tune's search-space syntax written in YAML: `{loguniform: [1e-4, 1e-2]}`, `{grid_search: [...]}`."""

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
    if name == "grid_range" and not (len(args) <= 3 and integers and len(range(*args))):
        expected = "[start, stop] or [start, stop, step] integers with values between"
        raise ValueError(f"param_space.{key}.grid_range: expected {expected}, got {args!r}")
    if name in LIST_DOMAINS:
        return LIST_DOMAINS[name](args)
    try:
        return ARGS_DOMAINS[name](*args)
    except (TypeError, ValueError) as err:
        raise ValueError(f"param_space.{key}.{name}: bad arguments {args!r}: {err}") from None


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

"""The numbers RLlib accepts and then fails on, hours later or deep inside a worker: discounts
above 1, learning rates of .inf, negative epochs, layers of width -64. Checked when the spec loads.

A rule is found by the key's name, so it holds for every algorithm and module that uses the name.
"""

import math
import re
from typing import Any

# Seeds RLlib passes to numpy's legacy seeding (below 2**32) after adding per-runner offsets.
MAX_SEED = 2**31 - 1

LEARNING_RATE = re.compile(r"^(lr|.+_lr|_lr_.+)$")
COEFFICIENT = re.compile(r"^.+_coeff$")
FRACTION = ("gamma", "lambda_", "tau")  # discount, GAE lambda, target-network mixing: in [0, 1]
AT_LEAST_ONE = ("num_epochs", "minibatch_size", "train_batch_size", "train_batch_size_per_learner", "n_step", "num_atoms")
# Widths and lengths of a module's layers: an int or a list of ints, each at least 1.
WIDTH = re.compile(r"(hidden|hiddens|_size|_sizes|_len|_dim|_units)$")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _schedule_problem(value: list[Any], all_zero_ok: bool) -> str | None:
    """A schedule is [[timestep, value], ...]: timesteps from 0 upward, values finite and >= 0."""
    steps = []
    for pair in value:
        if not (isinstance(pair, list) and len(pair) == 2 and all(_is_number(x) for x in pair)):
            return f"expected a number or a schedule [[timestep, value], ...], got {value!r}"
        steps.append(pair[0])
        if not math.isfinite(pair[1]) or pair[1] < 0:
            return f"expected schedule values finite and >= 0, got {pair[1]!r}"
    if not steps or steps[0] != 0 or any(b <= a for a, b in zip(steps, steps[1:], strict=False)):
        return f"expected a schedule whose timesteps start at 0 and increase, got {value!r}"
    if not all_zero_ok and all(pair[1] == 0 for pair in value):
        return "a schedule that is 0 throughout never learns"
    return None


def training_value_problem(key: str, value: Any) -> str | None:
    """What is wrong with `training.<key>: value`, or None; only numbers and schedules are judged."""
    rate = bool(LEARNING_RATE.match(key))
    if rate or COEFFICIENT.match(key):
        if isinstance(value, list):
            return _schedule_problem(value, all_zero_ok=not rate)
        if not _is_number(value):
            return None
        if not math.isfinite(value) or value < 0:
            return f"expected a finite number >= 0, got {value!r}"
        if rate and value == 0:
            return "a learning rate of 0 never learns; expected a number > 0 (a schedule may anneal to 0)"
        return None
    if not _is_number(value):
        return None
    if key in FRACTION and not 0 <= value <= 1:
        return f"expected a number in [0, 1], got {value!r}"
    if key in AT_LEAST_ONE and not (isinstance(value, int) and value >= 1):
        return f"expected a whole number >= 1, got {value!r}"
    if "clip" in key:
        return None if value > 0 else f"expected a number > 0 (.inf: no clipping), got {value!r}"
    if not math.isfinite(value):
        return f"expected a finite number, got {value!r}"
    return None


def width_problem(key: str, value: Any) -> str | None:
    """What is wrong with a module's layer width or length `key: value`, or None."""
    if not WIDTH.search(key):
        return None
    items = value if isinstance(value, list) else [value]
    for item in items:
        if _is_number(item) and not (isinstance(item, int) and item >= 1):
            return f"expected widths and lengths that are whole numbers >= 1, got {value!r}"
    return None

"""True statements of a few skills, generated offline: the pretraining corpus is made of them and
the binary tasks (`tasks`) ask questions of them.

Each generator gives (claim, answer): "55+98=" and "153". Sums and leg counts come from
reasoning-gym (`chain_sum`, `leg_counting`: procedural and offline); comparisons, sorting and
worked multi-step arithmetic are made here.
"""

from collections.abc import Callable
from functools import cache

import numpy as np

Statement = tuple[str, str]  # (claim, answer)
POOL = 20_000  # reasoning-gym items per pool: drawn from at random, so pools repeat items


@cache
def _reasoning_gym_pool(name: str, seed: int) -> tuple[Statement, ...]:
    """A pool of reasoning-gym items as statements; `seed` keeps the corpus's and tasks' pools apart."""
    import reasoning_gym

    if name == "chain_sum":
        items = reasoning_gym.create_dataset(name, seed=seed, size=POOL, min_terms=2, max_terms=2, min_digits=1, max_digits=2)
        return tuple((item["metadata"]["expression"].replace(" ", "") + "=", item["answer"]) for item in items)
    items = reasoning_gym.create_dataset(name, seed=seed, size=POOL, min_animals=1, max_animals=3, max_instances=5)
    return tuple((item["question"].rsplit("if you have ", 1)[1].rstrip("?\n") + ": legs=", item["answer"]) for item in items)


def chain_sum(rng: np.random.Generator, pool_seed: int = 0) -> Statement:
    """A sum or difference of two numbers of 1-2 digits: ("65-23=", "42")."""
    pool = _reasoning_gym_pool("chain_sum", pool_seed)
    return pool[int(rng.integers(len(pool)))]


def legs(rng: np.random.Generator, pool_seed: int = 0) -> Statement:
    """Legs of 1-3 kinds of animals: ("1 tiger, 4 butterflys: legs=", "28"); needs each animal's legs by heart."""
    pool = _reasoning_gym_pool("leg_counting", pool_seed)
    return pool[int(rng.integers(len(pool)))]


def _number(rng: np.random.Generator, digits: int) -> int:
    return int(rng.integers(10 ** (digits - 1) if digits > 1 else 0, 10**digits))


def comparison(rng: np.random.Generator, pool_seed: int = 0) -> Statement:
    """Which of two numbers is larger: ("cmp 4821 4812:", ">"); half the pairs share their leading digits."""
    digits = int(rng.integers(1, 5))
    a, b = _number(rng, digits), _number(rng, digits)
    if digits > 1 and rng.random() < 0.5:
        b = a - a % 10 ** (digits - 1) + b % 10 ** (digits - 1)  # same first digit
    if a == b:
        b = (a + 1) % 10**digits
    return f"cmp {a} {b}:", ">" if a > b else "<"


def sorting(rng: np.random.Generator, pool_seed: int = 0) -> Statement:
    """Numbers and their ascending order: ("sort 25 3 40:", "3 25 40")."""
    numbers = rng.integers(0, 100, int(rng.integers(3, 6))).tolist()
    return f"sort {' '.join(map(str, numbers))}:", " ".join(map(str, sorted(numbers)))


def worked(rng: np.random.Generator, pool_seed: int = 0) -> Statement:
    """Multi-step arithmetic with every step written out: ("12+7=19\\n19*3=57\\n57-20=", "37")."""
    value, lines = int(rng.integers(1, 50)), []
    for _ in range(int(rng.integers(1, 4))):
        op = "+-*"[int(rng.integers(3))]
        operand = int(rng.integers(2, 10)) if op == "*" else int(rng.integers(1, 50))
        result = {"+": value + operand, "-": value - operand, "*": value * operand}[op]
        lines.append(f"{value}{op}{operand}={result}")
        value = result
    *steps, last = lines
    claim, answer = last.rsplit("=", 1)
    return "\n".join([*steps, claim + "="]), answer


KINDS: dict[str, Callable[[np.random.Generator, int], Statement]] = {
    "chain_sum": chain_sum, "legs": legs, "comparison": comparison, "sorting": sorting, "worked": worked,
}

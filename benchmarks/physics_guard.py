"""What the physics guard costs: env steps/s of MuJoCo envs made by rapid with the guard (the
default) and without it (`physics_guard: null`), side by side.

Both are made by `rapid.platform.env_stack.make_env`, as the EnvRunners make them, and step the
same uniform random actions (reset at each episode end). The process pins itself to one CPU
and runs short rounds that step the two in turn, so machine noise hits both alike; each env's
figure is the median over rounds of guarded/unguarded steps/s (target >= 0.95: the guard is
one Python wrapper layer, about 2 µs a step, which the fastest MuJoCo envs feel most). The last line
printed is one JSON object.

    python benchmarks/physics_guard.py           # 20 rounds of 2,000 steps per env and variant
    python benchmarks/physics_guard.py --quick   # 4 rounds of 500 steps, well under a minute
"""

import argparse
import json
import os
import statistics
import time
from typing import Any

import numpy as np

from rapid.platform.env_stack import make_env

ENVS = ("InvertedDoublePendulum-v5", "HalfCheetah-v5", "ShadowHandBlock-v0")


def steps_per_s(env: Any, actions: np.ndarray) -> float:
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return len(actions) / (time.perf_counter() - start)


def measure(env_id: str, rounds: int, steps: int, rng: np.random.Generator) -> dict[str, float]:
    guarded, bare = make_env(env_id, {}), make_env(env_id, {"physics_guard": None})
    for env in (guarded, bare):
        env.reset(seed=0)
    ratios, rates = [], {"guarded": [], "bare": []}
    for _ in range(rounds):
        actions = rng.uniform(guarded.action_space.low, guarded.action_space.high, (steps, *guarded.action_space.shape))
        with_guard, without = steps_per_s(guarded, actions), steps_per_s(bare, actions)
        rates["guarded"].append(with_guard)
        rates["bare"].append(without)
        ratios.append(with_guard / without)
    return {
        f"{env_id}/guarded_steps_per_s": statistics.median(rates["guarded"]),
        f"{env_id}/bare_steps_per_s": statistics.median(rates["bare"]),
        f"{env_id}/guarded_over_bare": statistics.median(ratios),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 rounds of 500 steps")
    args = parser.parse_args()
    rounds, steps = (4, 500) if args.quick else (20, 2000)
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    rng = np.random.default_rng(0)
    figures: dict[str, float] = {}
    for env_id in ENVS:
        figures.update(measure(env_id, rounds, steps, rng))
        print(f"{env_id}: guarded/bare {figures[f'{env_id}/guarded_over_bare']:.3f} "
              f"({figures[f'{env_id}/guarded_steps_per_s']:,.0f} vs {figures[f'{env_id}/bare_steps_per_s']:,.0f} steps/s)")
    figures["worst_guarded_over_bare"] = min(v for k, v in figures.items() if k.endswith("guarded_over_bare"))
    print(json.dumps({k: round(v, 4) for k, v in figures.items()}))


if __name__ == "__main__":
    main()

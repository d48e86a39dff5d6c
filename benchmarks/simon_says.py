"""Minecraft Simon Says on Crafter: what rapid's task env costs, how fast a job trains, and does the
learning-progress curriculum with the dynamic exploration bonus master more items than uniform?

1. Speed, on one core (the process pins itself to one CPU), in alternating rounds: env steps/s,
   resets included, of bare `crafter.Env` and of rapid's `simon_says` env with the job's wrappers
   (the curriculum's client and the dynamic bonus, without a central actor) as the EnvRunners make
   it, on the same worlds (the same seeds) with the same random actions. rapid's env runs Crafter's
   score protocol here, so that its episodes end where bare Crafter's do (death, or 10,000 steps)
   and both reset equally often; the ratio is rapid/bare (median of per-round ratios; target >= 0.9).
2. End to end: jobs/simon_says_crafter.yaml as shipped (one EnvRunner of 8 envs, the learner in
   the driver) for 4 iterations without evaluation; training env steps/s (sampling and learning,
   the median over iterations 2-4) and sampling env steps/s (env steps / the EnvRunner's sampling
   seconds).
3. The ablation, jobs/simon_says_ablation.yaml at `--budget` env steps per run: task sampling
   (uniform, learning progress) x exploration bonus (none, dynamic), for each seed, two runs at once
   (one CPU each). Figures per arm (means over seeds) at the end of each run: items mastered
   (success >= 0.5 over a task's last 100 episodes), the mean success over tasks, the Crafter score
   of one evaluation at the end (5 episodes of the published protocol), and training env steps/s.
   The paper: learning progress with the dynamic bonus masters more items than uniform sampling.
   Published Crafter scores at 1M env steps: random 1.6%, PPO 4.6%, DreamerV3 14.5%, PPO with a
   ResNet 15.6%, human 50.5%.

The last line printed is one JSON object with every figure.

    python benchmarks/simon_says.py --budget 100000 --seeds 0,1,2 --keep /tmp/simon_says
    python benchmarks/simon_says.py --only speed
    python benchmarks/simon_says.py --only throughput
    python benchmarks/simon_says.py --quick          # short speed rounds and the ablation's smoke profile: wiring only
"""

import argparse
import json
import math
import os
import statistics
import tempfile
import time
from collections import defaultdict
from typing import Any

import numpy as np
from common import ROOT, run_rapid

from rapid.platform.env_stack import make_env

SPEC = ROOT / "jobs" / "simon_says_ablation.yaml"
BATCH = 4096  # jobs/simon_says_crafter.yaml's train_batch_size_per_learner: env steps per iteration
ARMS = {
    "uniform": ("uniform", False),
    "uniform+bonus": ("uniform", True),
    "lp": ("learning_progress", False),
    "lp+bonus": ("learning_progress", True),
}


# --- 1. speed ------------------------------------------------------------------------------------


def steps_per_s(step: Any, reset: Any, actions: np.ndarray, seed: int) -> float:
    """Env steps/s over `actions`, resets included; `step(a)` returns whether the episode ended."""
    reset(seed)
    start = time.perf_counter()
    for action in actions:
        if step(int(action)):
            reset(None)
    return len(actions) / (time.perf_counter() - start)


def speed_part(quick: bool) -> dict[str, float]:
    import crafter

    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cpus)})
    try:
        bare = crafter.Env(area=(64, 64), size=(64, 64))
        rapid = make_env("simon_says", {"score_protocol": True, "curriculum": {}, "exploration_bonus": {"dynamic": True}})

        def bare_reset(seed: int | None) -> None:
            if seed is not None:
                bare._seed, bare._episode = seed, 0
            bare.reset()

        envs = {
            "bare": (lambda a: bare.step(a)[2], bare_reset),
            "rapid": (lambda a: any(rapid.step(a)[2:4]), lambda seed: rapid.reset(seed=seed)),
        }
        rng = np.random.default_rng(0)
        for _, reset in envs.values():  # numba compiles world generation at the first reset
            reset(0)
        rates: dict[str, list[float]] = {name: [] for name in envs}
        for r in range(2 if quick else 8):
            actions, seed = rng.integers(17, size=500 if quick else 3000), int(rng.integers(2**31))
            for name in list(envs) if r % 2 == 0 else list(envs)[::-1]:
                rates[name].append(steps_per_s(*envs[name], actions, seed))
    finally:
        os.sched_setaffinity(0, cpus)
    figures = {f"{name}_env_steps_per_s": statistics.median(found) for name, found in rates.items()}
    figures["rapid_vs_bare"] = statistics.median(w / b for w, b in zip(rates["rapid"], rates["bare"], strict=True))
    print(f"Crafter env steps/s on one core, resets included: bare {figures['bare_env_steps_per_s']:,.0f}, rapid "
          f"{figures['rapid_env_steps_per_s']:,.0f}, ratio {figures['rapid_vs_bare']:.3f} (target >= 0.9)", flush=True)
    return figures


# --- 2. end to end -------------------------------------------------------------------------------


def throughput_part(quick: bool) -> dict[str, float]:
    """The shipped job's training and sampling env steps/s, after its first iteration."""
    overrides = ["evaluation=null", f"stop={{iterations: {2 if quick else 4}}}", "checkpoint.every=100"]
    with tempfile.TemporaryDirectory() as scratch:
        table = run_rapid(ROOT / "jobs" / "simon_says_crafter.yaml", overrides, scratch, "simon_says_crafter",
                          "smoke" if quick else None)["table"]
    sampled, sampling_s = table["env_runners/num_env_steps_sampled"][1:], table["env_runners/sample"][1:]
    figures = {"job/env_steps_per_s": statistics.median(table["env_steps_per_s"][1:]),
               "job/sampling_env_steps_per_s": statistics.median(n / t for n, t in zip(sampled, sampling_s, strict=True))}
    print(f"jobs/simon_says_crafter.yaml: {figures['job/env_steps_per_s']:,.0f} env steps/s training, "
          f"{figures['job/sampling_env_steps_per_s']:,.0f} sampling", flush=True)
    return figures


# --- 3. the ablation -----------------------------------------------------------------------------


def arm_of(group: str) -> str:
    """The arm of a trial's group label (`env_config.curriculum.sampling="uniform", env_config.exploration_bonus=null`)."""
    wanted = ('"learning_progress"' in group, not group.endswith("exploration_bonus=null"))
    return next(name for name, (sampling, bonus) in ARMS.items() if (sampling == "learning_progress", bonus) == wanted)


def last_value(values: list[Any]) -> float:
    found = [v for v in values if v is not None and v == v]
    return float(found[-1]) if found else math.nan


def ablation_part(budget: int, seeds: list[int], quick: bool, keep: str | None) -> dict[str, float]:
    """Every arm and seed at `budget` env steps (one evaluation at the end); per-arm means over seeds."""
    iterations = max(1, budget // BATCH)
    overrides = [f"param_space.seed={{grid_search: {seeds}}}"]
    if not quick:
        overrides += [f"stop={{env_steps: {budget}}}", f"config.evaluation.every={iterations}"]
    with tempfile.TemporaryDirectory() as scratch:
        table = run_rapid(SPEC, overrides, keep or scratch, "simon_says_ablation", "smoke" if quick else None)["table"]
    trials: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for i, trial in enumerate(table["trial_id"]):
        for column, values in table.items():
            trials[trial][column].append(values[i])
    per_arm: dict[str, dict[str, list[float]]] = {arm: defaultdict(list) for arm in ARMS}
    for trial, columns in sorted(trials.items()):
        arm = arm_of(columns["group"][0])
        found = {
            "mastered": last_value(columns["curriculum/mastered"]),
            "mean_success": last_value(columns["curriculum/mean_success"]),
            "crafter_score": last_value(columns.get("evaluation/env_runners/crafter_score", [])),
            "env_steps": last_value(columns["env_steps"]),
            "env_steps_per_s": float(np.nanmean(columns["env_steps_per_s"])),
        }
        print(f"{arm} ({trial}): " + ", ".join(f"{key} {value:,.3f}" for key, value in found.items()), flush=True)
        for key, value in found.items():
            per_arm[arm][key].append(value)
    figures = {f"{arm}/{key}": float(np.mean(values)) for arm, found in per_arm.items() for key, values in found.items()}
    figures["met/lp_bonus_masters_more_than_uniform"] = float(figures["lp+bonus/mastered"] > figures["uniform/mastered"])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=int, default=100_000, help="env steps per run")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--only", choices=("speed", "throughput", "ablation"), help="run one part")
    parser.add_argument("--keep", help="keep the runs under this storage path (default: a temporary folder)")
    parser.add_argument("--quick", action="store_true", help="short speed rounds; the ablation's smoke profile, one seed")
    args = parser.parse_args()
    seeds = [0] if args.quick else [int(s) for s in args.seeds.split(",")]
    result: dict[str, float] = {}
    if args.only in (None, "speed"):
        result.update(speed_part(args.quick))
    if args.only in (None, "throughput"):
        result.update(throughput_part(args.quick))
    if args.only in (None, "ablation"):
        result.update({} if args.quick else {"budget_env_steps": float(args.budget), "seeds": float(len(seeds))})
        result.update(ablation_part(args.budget, seeds, args.quick, args.keep))
    print(json.dumps({k: round(v, 4) for k, v in result.items()}))


if __name__ == "__main__":
    main()

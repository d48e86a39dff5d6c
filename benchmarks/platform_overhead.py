"""What rapid costs over plain RLlib: env steps/s and startup seconds, side by side in one run.

The same PPO config (jobs/quickstart.yaml's numbers) is trained for the same number of
iterations twice per round, once by `rapid run` and once by a plain RLlib script (PPOConfig
and `algo.train()` in a loop), each in a fresh process on an embedded Ray, rounds
interleaved so that machine noise hits both alike. The figure is the median over rounds of
each round's rapid/plain ratio: a pair run back to back shares the machine's mood.

- env steps/s: env steps sampled / seconds inside the training iterations.
- startup: process wall time minus the seconds inside training iterations (imports, Ray
  start, building the algorithm, writing results).

    python benchmarks/platform_overhead.py            # 5 rounds x 12 iterations
    python benchmarks/platform_overhead.py --quick    # 1 round x 3 iterations, under a minute
"""

import argparse
import json
import statistics
import tempfile
import time
from typing import Any

import yaml
from common import ROOT, run_baseline, run_rapid, train_plain

SPEC = ROOT / "jobs" / "quickstart.yaml"


def plain_rllib(iterations: int) -> None:
    """The baseline: a plain RLlib script with the spec's numbers, printing one JSON line."""
    start = time.time()
    import ray
    from ray.rllib.algorithms.ppo import PPOConfig

    spec = yaml.safe_load(SPEC.read_text())
    training = {k: float(v) if k == "lr" else v for k, v in spec["training"].items()}
    ray.init()
    config = (
        PPOConfig()
        .environment(spec["env"])
        .env_runners(
            num_env_runners=spec["resources"]["env_runners"],
            num_envs_per_env_runner=spec["resources"]["envs_per_env_runner"],
        )
        .training(**training)
        .rl_module(model_config=spec["policy"]["model_config"])
        .debugging(seed=spec["seed"])
    )
    print(json.dumps({**train_plain(config, iterations), "wall_s": time.time() - start}))


def run_plain(iterations: int) -> dict[str, float]:
    return run_baseline(__file__, ["--plain", str(iterations)])


def run_rapid_job(iterations: int, storage: str) -> dict[str, Any]:
    overrides = [f"stop.iterations={iterations}", "stop.env_steps=100000000", "stop.wall_time_s=100000", "stop.metric={}",
                 f"checkpoint.every={iterations}"]
    return run_rapid(SPEC, overrides, storage, "quickstart")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 round of 3 iterations")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=12)
    parser.add_argument("--plain", type=int, metavar="N", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain:
        plain_rllib(args.plain)
        return
    rounds, iterations = (1, 3) if args.quick else (args.rounds, args.iterations)
    rates: dict[str, list[float]] = {"plain": [], "rapid": []}
    startup: dict[str, list[float]] = {"plain": [], "rapid": []}
    with tempfile.TemporaryDirectory() as storage:
        for r in range(rounds):
            for name, run in (("plain", lambda: run_plain(iterations)), ("rapid", lambda: run_rapid_job(iterations, storage))):
                figures = run()
                rates[name].append(figures["env_steps"] / figures["train_s"])
                startup[name].append(figures["wall_s"] - figures["train_s"])
                rate, start = rates[name][-1], startup[name][-1]
                print(f"round {r + 1} {name:5s}: {rate:8,.0f} env steps/s, startup {start:5.1f} s", flush=True)
    plain, rapid = statistics.median(rates["plain"]), statistics.median(rates["rapid"])
    ratio = statistics.median(r / p for r, p in zip(rates["rapid"], rates["plain"], strict=True))
    result = {
        "rounds": rounds,
        "iterations": iterations,
        "plain_env_steps_per_s": round(plain, 1),
        "rapid_env_steps_per_s": round(rapid, 1),
        "rapid_vs_plain": round(ratio, 3),
        "plain_startup_s": round(statistics.median(startup["plain"]), 2),
        "rapid_startup_s": round(statistics.median(startup["rapid"]), 2),
        "rapid_startup_overhead_s": round(statistics.median(startup["rapid"]) - statistics.median(startup["plain"]), 2),
    }
    print(f"\nmedian of {rounds} round(s), {iterations} iterations each (PPO, {yaml.safe_load(SPEC.read_text())['env']})")
    print(f"  plain RLlib  {plain:8,.0f} env steps/s   startup {result['plain_startup_s']:5.1f} s")
    print(f"  rapid run    {rapid:8,.0f} env steps/s   startup {result['rapid_startup_s']:5.1f} s")
    overhead = result["rapid_startup_overhead_s"]
    print(f"  rapid/plain  {result['rapid_vs_plain']:.3f} (median of per-round ratios; target >= 0.95)")
    print(f"  startup overhead {overhead:+.1f} s")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

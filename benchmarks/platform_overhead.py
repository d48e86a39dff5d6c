"""What rapid costs over plain RLlib: env steps/s and startup seconds, side by side in one run.

Two jobs, each trained for the same number of iterations twice per round, once by `rapid run`
and once by a plain RLlib script with the spec's numbers, each in a fresh process on an
embedded Ray, rounds interleaved so that machine noise hits both alike:

- `quickstart`: jobs/quickstart.yaml, single-agent PPO (PPOConfig and `algo.train()` in a loop);
- `multiagent`: jobs/multiagent_selfplay.yaml as shipped (two PPO policies on MPE2's
  simple_tag, its league on) against a plain RLlib multi-agent script with the same env
  (RLlib's ParallelPettingZooEnv), policies, mapping, runners and batch, and no league.

The figure is the median over rounds of each round's rapid/plain ratio: a pair run back to
back shares the machine's mood.

- env steps/s: env steps sampled / seconds inside the training iterations.
- startup: process wall time minus the seconds inside training iterations (imports, Ray
  start, building the algorithm, writing results).

    python benchmarks/platform_overhead.py                   # both jobs, 5 rounds x 12 iterations
    python benchmarks/platform_overhead.py --jobs multiagent # one of them
    python benchmarks/platform_overhead.py --quick           # 1 round x 2 iterations of each, about a minute
"""

import argparse
import json
import statistics
import tempfile
import time
from typing import Any

import yaml
from common import ROOT, run_baseline, run_rapid, train_plain

SPECS = {"quickstart": ROOT / "jobs" / "quickstart.yaml", "multiagent": ROOT / "jobs" / "multiagent_selfplay.yaml"}


def _training(spec: dict[str, Any]) -> dict[str, Any]:
    return {k: float(v) if k == "lr" else v for k, v in spec["training"].items()}


def plain_quickstart(spec: dict[str, Any]) -> Any:
    from ray.rllib.algorithms.ppo import PPOConfig

    return (
        PPOConfig()
        .environment(spec["env"])
        .env_runners(
            num_env_runners=spec["resources"]["env_runners"],
            num_envs_per_env_runner=spec["resources"]["envs_per_env_runner"],
        )
        .training(**_training(spec))
        .rl_module(model_config=spec["policy"]["model_config"])
        .debugging(seed=spec["seed"])
    )


def plain_multiagent(spec: dict[str, Any]) -> Any:
    """RLlib's own multi-agent recipe: ParallelPettingZooEnv, one RLModuleSpec per policy, a mapping function."""
    from mpe2 import simple_tag_v3
    from ray import tune
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec
    from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv

    env_config = spec["env_config"]
    tune.register_env("simple_tag", lambda config: ParallelPettingZooEnv(simple_tag_v3.parallel_env(**config)))
    policies = spec["multi_agent"]["policies"]
    specs = {name: RLModuleSpec(model_config=p["model_config"]) for name, p in policies.items()}
    return (
        PPOConfig()
        .environment("simple_tag", env_config=env_config)
        .env_runners(num_env_runners=spec["resources"]["env_runners"])
        .multi_agent(
            policies=set(policies),
            policy_mapping_fn=lambda agent_id, episode, **kw: "predator" if agent_id.startswith("adversary") else "prey",
        )
        .rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs=specs))
        .training(**_training(spec))
        .debugging(seed=spec["seed"])
    )


PLAIN = {"quickstart": plain_quickstart, "multiagent": plain_multiagent}


def plain_rllib(job: str, iterations: int) -> None:
    """A baseline: a plain RLlib script with the spec's numbers, printing one JSON line."""
    start = time.time()
    import ray

    ray.init()
    config = PLAIN[job](yaml.safe_load(SPECS[job].read_text()))
    print(json.dumps({**train_plain(config, iterations), "wall_s": time.time() - start}))


def run_plain(job: str, iterations: int) -> dict[str, float]:
    return run_baseline(__file__, ["--plain", job, str(iterations)])


def run_rapid_job(job: str, iterations: int, storage: str) -> dict[str, Any]:
    overrides = [f"stop.iterations={iterations}", "stop.env_steps=100000000", "stop.wall_time_s=100000", "stop.metric={}",
                 f"checkpoint.every={iterations}"]
    return run_rapid(SPECS[job], overrides, storage, yaml.safe_load(SPECS[job].read_text())["name"])


def measure(job: str, rounds: int, iterations: int) -> dict[str, Any]:
    rates: dict[str, list[float]] = {"plain": [], "rapid": []}
    startup: dict[str, list[float]] = {"plain": [], "rapid": []}
    with tempfile.TemporaryDirectory() as storage:
        for r in range(rounds):
            arms = (("plain", lambda: run_plain(job, iterations)), ("rapid", lambda: run_rapid_job(job, iterations, storage)))
            for name, run in arms:
                figures = run()
                rates[name].append(figures["env_steps"] / figures["train_s"])
                startup[name].append(figures["wall_s"] - figures["train_s"])
                rate, start = rates[name][-1], startup[name][-1]
                print(f"{job} round {r + 1} {name:5s}: {rate:8,.0f} env steps/s, startup {start:5.1f} s", flush=True)
    return {
        "plain_env_steps_per_s": round(statistics.median(rates["plain"]), 1),
        "rapid_env_steps_per_s": round(statistics.median(rates["rapid"]), 1),
        "rapid_vs_plain": round(statistics.median(r / p for r, p in zip(rates["rapid"], rates["plain"], strict=True)), 3),
        "plain_startup_s": round(statistics.median(startup["plain"]), 2),
        "rapid_startup_s": round(statistics.median(startup["rapid"]), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 round of 2 iterations per job")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=12)
    parser.add_argument("--jobs", default="quickstart,multiagent", help="comma-separated: quickstart, multiagent")
    parser.add_argument("--plain", nargs=2, metavar=("JOB", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain:
        plain_rllib(args.plain[0], int(args.plain[1]))
        return
    rounds, iterations = (1, 2) if args.quick else (args.rounds, args.iterations)
    jobs = [j for j in args.jobs.split(",") if j]
    unknown = [j for j in jobs if j not in SPECS]
    if unknown:
        parser.error(f"unknown job {unknown[0]!r}; expected {', '.join(SPECS)}")
    result: dict[str, Any] = {"rounds": rounds, "iterations": iterations}
    for job in jobs:
        figures = measure(job, rounds, iterations)
        result.update({f"{job}_{key}": value for key, value in figures.items()})
    print(f"\nmedian of {rounds} round(s), {iterations} iterations each")
    for job in jobs:
        f = {key: result[f"{job}_{key}"] for key in ("plain_env_steps_per_s", "rapid_env_steps_per_s", "rapid_vs_plain",
                                                       "plain_startup_s", "rapid_startup_s")}
        print(f"  {job:10s} plain {f['plain_env_steps_per_s']:8,.0f} env steps/s (startup {f['plain_startup_s']:5.1f} s)   "
              f"rapid {f['rapid_env_steps_per_s']:8,.0f} (startup {f['rapid_startup_s']:5.1f} s)   "
              f"rapid/plain {f['rapid_vs_plain']:.3f} (target >= 0.95)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

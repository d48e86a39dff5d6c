"""End-to-end PPO env steps/s on a Shadow Hand: rapid's Dactyl job vs plain RLlib on gymnasium-robotics.

Both sides use the same env runners, envs per runner, train batch, minibatch and epochs:
- rapid: `rapid run jobs/shadow_hand_dr.yaml` (its fast hand env with Dactyl's randomization,
  the asymmetric LSTM policy), evaluation off;
- plain RLlib: PPOConfig on gymnasium-robotics' HandManipulateBlock-v1 with RLlib's default
  module, its Dict observation flattened by RLlib's FlattenObservations connector.
Each run is a fresh process on an embedded Ray; rounds alternate. Env steps/s is the env
steps sampled divided by the seconds inside training iterations; the figure is the median over
rounds of each round's rapid/plain ratio.

    python benchmarks/hand_sampling.py                          # 2 cores: 1 runner x 8 envs, 3 rounds
    python benchmarks/hand_sampling.py --runners 15 --envs 8    # a 16-core machine
    python benchmarks/hand_sampling.py --quick                  # under a minute
"""

import argparse
import json
import statistics
import tempfile

import yaml
from common import ROOT, run_baseline, run_rapid, train_plain

SPEC = ROOT / "jobs" / "shadow_hand_dr.yaml"


def plain_rllib(runners: int, envs: int, iterations: int) -> None:
    """The baseline: plain RLlib PPO on gymnasium-robotics' hand, printing one JSON line."""
    import gymnasium as gym
    import ray
    from ray import tune
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.connectors.env_to_module import FlattenObservations

    def make_hand(_: dict) -> gym.Env:
        import gymnasium_robotics

        gym.register_envs(gymnasium_robotics)
        return gym.make("HandManipulateBlock-v1")

    training = yaml.safe_load(SPEC.read_text())["training"]
    ray.init()
    tune.register_env("hand", make_hand)
    config = (
        PPOConfig()
        .environment("hand")
        .env_runners(
            num_env_runners=runners,
            num_envs_per_env_runner=envs,
            env_to_module_connector=lambda env, spaces, device: FlattenObservations(),
        )
        .training(
            train_batch_size_per_learner=training["train_batch_size_per_learner"],
            minibatch_size=training["minibatch_size"],
            num_epochs=training["num_epochs"],
        )
    )
    print(json.dumps(train_plain(config, iterations)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 round of 1 small iteration")
    parser.add_argument("--runners", type=int, default=1)
    parser.add_argument("--envs", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--plain", nargs=3, type=int, metavar=("RUNNERS", "ENVS", "ITERATIONS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain:
        plain_rllib(*args.plain)
        return
    rounds, iterations = (1, 1) if args.quick else (args.rounds, args.iterations)
    common = [f"resources.env_runners={args.runners}", f"resources.envs_per_env_runner={args.envs}"]
    if args.quick:
        common += ["training.train_batch_size_per_learner=512", "training.minibatch_size=256", "training.num_epochs=1"]
    rapid_overrides = [*common, "evaluation=null", f"stop.iterations={iterations}", "stop.env_steps=1000000000",
                       "stop.wall_time_s=100000", f"checkpoint.every={iterations}"]
    rates: dict[str, list[float]] = {"plain": [], "rapid": []}
    with tempfile.TemporaryDirectory() as storage:
        for r in range(rounds):
            for name in ("plain", "rapid"):
                if name == "plain":
                    figures = run_baseline(__file__, ["--plain", str(args.runners), str(args.envs), str(iterations)])
                else:
                    figures = run_rapid(SPEC, rapid_overrides, storage, "shadow_hand_dr")
                rates[name].append(figures["env_steps"] / figures["train_s"])
                print(f"round {r + 1} {name:5s}: {rates[name][-1]:8,.0f} env steps/s", flush=True)
    ratio = statistics.median(r / p for r, p in zip(rates["rapid"], rates["plain"], strict=True))
    result = {
        "runners": args.runners,
        "envs_per_runner": args.envs,
        "rounds": rounds,
        "iterations": iterations,
        "plain_env_steps_per_s": round(statistics.median(rates["plain"]), 1),
        "rapid_env_steps_per_s": round(statistics.median(rates["rapid"]), 1),
        "rapid_vs_plain": round(ratio, 3),
    }
    print(f"\nmedian of {rounds} round(s), {iterations} PPO iterations, {args.runners} runner(s) x {args.envs} envs")
    print(f"  plain RLlib, gymnasium-robotics HandManipulateBlock-v1  {result['plain_env_steps_per_s']:8,.0f} env steps/s")
    print(f"  rapid shadow_hand_dr (DR + asymmetric LSTM)             {result['rapid_env_steps_per_s']:8,.0f} env steps/s")
    print(f"  rapid/plain {ratio:.2f} (median of per-round ratios; target >= 2)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

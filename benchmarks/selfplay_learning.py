"""Does self-play learn? jobs/multiagent_selfplay.yaml's policies against their own iteration-0 weights.

For each seed: train the job as shipped (two PPO policies on MPE2's simple_tag, league on)
for `--budget` seconds on an embedded Ray, then play its final predator and prey against the
weights they started from, through RLlib's own MultiAgentEnvRunner and the job's connectors:

- predator gap: the predators' summed return per episode (30 per catch), trained predators vs
  iteration-0 prey, minus iteration-0 predators vs iteration-0 prey;
- catches gap: catches per episode (the predators' return / 30), iteration-0 predators vs
  trained prey, minus iteration-0 vs iteration-0: negative when the trained prey is caught less;
- prey gap: the prey's own return, in the same two matchups (it loses 10 per catch, and a
  shaping penalty for leaving the field, so running away far costs it too);
- catches gap against the trained predators: catches per episode, trained predators vs trained
  prey, minus trained predators vs iteration-0 prey: the prey against the opponent it trained
  against (iteration-0 predators catch about 0.45 an episode, which leaves the catches gap above
  little room to show a gain).

A positive predator gap and a negative catches gap mean the trained policies beat their
iteration-0 snapshots; each gap comes with its standard error over the episodes played. The iteration-0
weights are rebuilt from the job's seed (`AlgorithmConfig.build_learner`, as the trial's
learner builds them); the script checks that rebuild against a freshly built Algorithm first.

    python benchmarks/selfplay_learning.py --budget 900 --seeds 0,1,2   # 15 minutes a seed
    python benchmarks/selfplay_learning.py --keep runs --reuse          # play the kept runs again, no training
    python benchmarks/selfplay_learning.py --quick                       # the smoke profile, under a minute
"""

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import ray
import yaml
from common import ROOT, run_rapid

from rapid.platform.evaluate import policy_returns
from rapid.platform.initial_weights import MODULE_WEIGHTS
from rapid.platform.rllib_config import build_algorithm_config, register_env
from rapid.platform.run_dir import read_metrics
from rapid.platform.spec_file import load_spec
from rapid.training.league import snapshot_name

SPEC = ROOT / "jobs" / "multiagent_selfplay.yaml"
SIDES = {"adversary_": "predator", "agent_": "prey"}
# A catch gives each of the 3 predators +10: the predators' summed return is 30 per catch.
CATCH = 30.0
# Who plays each side in a matchup: the trained policy or its iteration-0 weights (kept in slot 0).
MATCHUPS = {
    "trained_predator_vs_initial_prey": ("trained", "initial"),
    "initial_predator_vs_trained_prey": ("initial", "trained"),
    "initial_vs_initial": ("initial", "initial"),
    "trained_vs_trained": ("trained", "trained"),
}


class FixedMatch:
    """Each side's agents play the trained policy or its iteration-0 copy."""

    def __init__(self, predator: str, prey: str) -> None:
        self.who = {"predator": predator, "prey": prey}

    def __call__(self, agent_id: str, episode: Any = None, **kwargs: Any) -> str:
        side = next(s for prefix, s in SIDES.items() if agent_id.startswith(prefix))
        return side if self.who[side] == "trained" else snapshot_name(side, 0)


def initial_weights(config: Any) -> dict[str, Any]:
    """The iteration-0 weights of each trained policy, built as the trial's learner builds them."""
    learner = config.build_learner()
    return {side: learner.module[side].get_state() for side in SIDES.values()}


def check_rebuild(config: Any, rebuilt: dict[str, Any]) -> float:
    """Largest difference between the rebuilt weights and a fresh Algorithm's learner (0.0 when exact)."""
    algo = config.copy(copy_frozen=False).env_runners(num_env_runners=0).build_algo()
    try:
        built = algo.learner_group.get_weights(module_ids=list(rebuilt))
    finally:
        algo.stop()
    return max(float(np.max(np.abs(np.asarray(built[s][k]) - np.asarray(v)))) for s in rebuilt for k, v in rebuilt[s].items())


def play(run: Path, seed: int, episodes: int) -> dict[str, dict[str, float]]:
    from ray.rllib.env.multi_agent_env_runner import MultiAgentEnvRunner

    job = load_spec(SPEC, overrides=[f"seed={seed}"]).job
    register_env(job)
    config = build_algorithm_config(job)
    initial = initial_weights(config)
    difference = check_rebuild(config, initial)
    checkpoint = sorted((run / "checkpoints").glob("checkpoint_*"))[-1]
    config.env_runners(num_env_runners=0, num_envs_per_env_runner=1)
    runner = MultiAgentEnvRunner(config=config)
    runner.restore_from_path(checkpoint / "env_runner")
    runner.module.restore_from_path(checkpoint / MODULE_WEIGHTS)
    for side, state in initial.items():
        runner.module[snapshot_name(side, 0)].set_state(state)
    figures: dict[str, dict[str, float]] = {"rebuild": {"max_weight_difference": difference}}
    for name, (predator, prey) in MATCHUPS.items():
        runner.config.multi_agent(policy_mapping_fn=FixedMatch(predator, prey))
        done = runner.sample(num_episodes=episodes, explore=True)  # whole episodes: each starts with the new mapping
        predator_module = "predator" if predator == "trained" else snapshot_name("predator", 0)
        prey_module = "prey" if prey == "trained" else snapshot_name("prey", 0)
        figures[name] = {"episodes": float(len(done))}
        for side, module in (("predator", predator_module), ("prey", prey_module)):
            per_episode = [policy_returns([episode])[f"module_episode_returns_mean/{module}"] for episode in done]
            figures[name][side] = float(np.mean(per_episode))
            figures[name][f"{side}_se"] = float(np.std(per_episode, ddof=1) / np.sqrt(len(per_episode)))
    runner.stop()
    return figures


def kept_run(storage: str, seed: int) -> Path | None:
    """The newest finished run of `seed` under `storage`, or None."""
    runs = sorted(Path(storage, "multiagent_selfplay").glob("*/summary.json"))
    found = [r.parent for r in runs if yaml.safe_load((r.parent / "spec.yaml").read_text()).get("seed") == seed]
    return found[-1] if found else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, default=900.0, help="seconds of training per seed")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--episodes", type=int, default=400, help="episodes per matchup")
    parser.add_argument("--quick", action="store_true", help="one seed, the smoke profile's sizes for 3 iterations, 20 episodes")
    parser.add_argument("--keep", help="keep the runs under this storage path (default: a temporary folder)")
    parser.add_argument("--reuse", action="store_true", help="with --keep: a seed with a run there is replayed, not retrained")
    args = parser.parse_args()
    if args.reuse and not args.keep:
        parser.error("--reuse needs --keep: the folder of the runs to play again")
    seeds = [0] if args.quick else [int(s) for s in args.seeds.split(",")]
    episodes = 20 if args.quick else args.episodes
    overrides = [f"stop.wall_time_s={args.budget}", "stop.env_steps=10000000000", "checkpoint.every=10"]
    if args.quick:
        overrides = ["training={train_batch_size_per_learner: 200, minibatch_size: 100, num_epochs: 1}",
                     "stop={iterations: 3}", "checkpoint.every=1"]
    per_seed = []
    with tempfile.TemporaryDirectory() as scratch:
        storage = args.keep or scratch
        for seed in seeds:
            run = kept_run(storage, seed) if args.reuse else None
            if run is None:
                run_rapid(SPEC, [*overrides, f"seed={seed}"], storage, "multiagent_selfplay")
                run = sorted(Path(storage, "multiagent_selfplay").iterdir())[-1]
            table = read_metrics(run)
            ray.init(address="local", num_cpus=2, include_dashboard=False)
            try:
                figures = play(run, seed, episodes)
            finally:
                ray.shutdown()
            steps, seconds = table["env_steps"][-1], table["wall_time_s"][-1]
            baseline = figures["initial_vs_initial"]
            against = {
                "predator": figures["trained_predator_vs_initial_prey"],
                "prey": figures["initial_predator_vs_trained_prey"],
            }
            gaps = {}
            for side, match in against.items():
                gaps[f"{side}_gap"] = match[side] - baseline[side]
                gaps[f"{side}_gap_se"] = float(np.hypot(match[f"{side}_se"], baseline[f"{side}_se"]))
            prey_match = against["prey"]
            gaps["catches_gap"] = (prey_match["predator"] - baseline["predator"]) / CATCH
            gaps["catches_gap_se"] = float(np.hypot(prey_match["predator_se"], baseline["predator_se"])) / CATCH
            # The same comparison against the opponent the policy trained against: the trained predators.
            both, old_prey = figures["trained_vs_trained"], figures["trained_predator_vs_initial_prey"]
            gaps["catches_gap_vs_trained"] = (both["predator"] - old_prey["predator"]) / CATCH
            gaps["catches_gap_vs_trained_se"] = float(np.hypot(both["predator_se"], old_prey["predator_se"])) / CATCH
            per_seed.append({"seed": seed, "env_steps": steps, "train_s": round(seconds, 1), **gaps,
                             **{f"{m}_{k}": round(v, 2) for m, f in figures.items() for k, v in f.items()}})
            print(f"seed {seed}: {steps:,.0f} env steps in {seconds:.0f} s (rebuilt iteration-0 weights differ by "
                  f"{figures['rebuild']['max_weight_difference']:.1e})", flush=True)
            for name in MATCHUPS:
                f = figures[name]
                print(f"  {name:34s} predators {f['predator']:8.2f} ± {f['predator_se']:.2f}   "
                      f"prey {f['prey']:8.2f} ± {f['prey_se']:.2f}   ({f['episodes']:.0f} episodes)")
            print(f"  predator gap {gaps['predator_gap']:+.2f} ± {gaps['predator_gap_se']:.2f}   "
                  f"catches gap {gaps['catches_gap']:+.3f} ± {gaps['catches_gap_se']:.3f}   "
                  f"prey gap {gaps['prey_gap']:+.2f} ± {gaps['prey_gap_se']:.2f} (± one standard error)", flush=True)
            print(f"  against the trained predators: catches gap {gaps['catches_gap_vs_trained']:+.3f} "
                  f"± {gaps['catches_gap_vs_trained_se']:.3f}", flush=True)
    result = {
        "seeds": len(seeds),
        "budget_s_per_seed": None if args.quick else args.budget,
        "episodes_per_matchup": episodes,
        "predator_gap_mean": round(statistics.fmean(s["predator_gap"] for s in per_seed), 2),
        "catches_gap_mean": round(statistics.fmean(s["catches_gap"] for s in per_seed), 3),
        "prey_gap_mean": round(statistics.fmean(s["prey_gap"] for s in per_seed), 2),
        "catches_gap_vs_trained_mean": round(statistics.fmean(s["catches_gap_vs_trained"] for s in per_seed), 3),
        "seeds_where_both_beat_iteration_0": sum(s["predator_gap"] > 0 and s["catches_gap"] < 0 for s in per_seed),
        "seeds_where_prey_beats_iteration_0_vs_trained_predators": sum(s["catches_gap_vs_trained"] < 0 for s in per_seed),
        "per_seed": per_seed,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

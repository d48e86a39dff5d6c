"""Consecutive successes against env steps for the Dactyl job's laptop profile, within a wall-clock budget.

Trains `jobs/shadow_hand_dr.yaml` (randomized hand, asymmetric LSTM PPO) on an embedded Ray
for `--budget` seconds, then prints the learning curve from its metrics.parquet: consecutive
successes per episode on the randomized env (training) and on the nominal env (evaluation),
and the return. The references (PAPERS.md §1): the Isaac Gym reproduction reaches 20
consecutive successes with full randomization after about an hour on one A100; OpenAI
needed 30 hours on 6,144 cores.

    python benchmarks/hand_learning.py --budget 1800    # half an hour on this machine
    python benchmarks/hand_learning.py --quick          # a minute: checks the wiring only
"""

import argparse
import json
import math
import tempfile

from common import ROOT, run_rapid

SPEC = ROOT / "jobs" / "shadow_hand_dr.yaml"
TRAIN = "env_runners/consecutive_successes"
EVAL = "evaluation/env_runners/consecutive_successes"


def _last(values: list, upto: int) -> float:
    found = [v for v in values[: upto + 1] if v is not None and not math.isnan(v)]
    return found[-1] if found else math.nan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, default=1800.0, help="seconds of training")
    parser.add_argument("--quick", action="store_true", help="the smoke profile for a few iterations")
    parser.add_argument("--keep", help="keep the run under this storage path (default: a temporary folder)")
    args = parser.parse_args()
    overrides = [f"stop.wall_time_s={args.budget}", "stop.env_steps=10000000000"]
    if args.quick:
        overrides = ["training.train_batch_size_per_learner=512", "training.minibatch_size=256", "training.num_epochs=1",
                     "evaluation.every=2", "env_config.timeout_s=4.0", "stop.wall_time_s=20"]
    with tempfile.TemporaryDirectory() as scratch:
        table = run_rapid(SPEC, overrides, args.keep or scratch, "shadow_hand_dr")["table"]
    steps, seconds = table["env_steps"], table["wall_time_s"]
    print(f"shadow_hand_dr, laptop profile, {seconds[-1]:.0f} s of training, {steps[-1]:,.0f} env steps")
    print(f"{'env steps':>12} {'minutes':>8} {'successes (randomized)':>24} {'successes (nominal)':>20} {'return':>10}")
    marks = sorted({round(i * (len(steps) - 1) / 10) for i in range(11)})
    for i in marks:
        print(f"{steps[i]:12,.0f} {seconds[i] / 60:8.1f} {_last(table.get(TRAIN, []), i):24.2f} "
              f"{_last(table.get(EVAL, []), i):20.2f} {table['episode_return_mean'][i]:10.2f}")
    result = {
        "budget_s": args.budget if not args.quick else 20,
        "env_steps": steps[-1],
        "env_steps_per_s": round(steps[-1] / seconds[-1], 1),
        "consecutive_successes_randomized": _last(table.get(TRAIN, []), len(steps) - 1),
        "consecutive_successes_randomized_best": max((v for v in table.get(TRAIN, []) if v is not None), default=math.nan),
        "consecutive_successes_nominal": _last(table.get(EVAL, []), len(steps) - 1),
        "episode_return_mean": table["episode_return_mean"][-1],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""Where a SAC+HER training step goes: RLlib's own timers on the FetchPush laptop job.

The job as shipped, without evaluation, learning from 300 env steps; 2 warm-up iterations,
then timed ones (50 training steps each: one sample of 2 env steps, one update of 256).

    python benchmarks/her_step_timers.py              # 3 timed iterations
    python benchmarks/her_step_timers.py --quick      # 1 timed iteration
"""

import argparse
import json
import time

import ray
from common import ROOT

from rapid.platform.spec_file import load_spec
from rapid.platform.trainable import RLlibJobTrainable, rllib_body

TIMERS = ("replay_buffer_sampling_timer", "learner_update_timer", "training_step")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--iterations", type=int, default=3)
    args = parser.parse_args()
    iterations = 1 if args.quick else args.iterations
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    overrides = ["evaluation=null", "training.num_steps_sampled_before_learning_starts=300"]
    job = load_spec(ROOT / "jobs" / "fetch_push_her.yaml", overrides=overrides).job
    trainable = RLlibJobTrainable(config={"job": rllib_body(job)})
    for _ in range(2):
        trainable.algo.train()
    start = time.time()
    for _ in range(iterations):
        result = trainable.algo.train()
    figures = {"s_per_iteration": round((time.time() - start) / iterations, 2)}
    figures.update({f"{name}_ms": round(1000 * result["timers"][name], 1) for name in TIMERS})
    trainable.stop()
    ray.shutdown()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

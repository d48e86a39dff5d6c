"""Shadow Hand env steps/s on one core: the raw simulator limit, gymnasium-robotics' env and rapid's, side by side.

All three step gymnasium-robotics' `hand/manipulate_block.xml` 20 substeps of 2 ms per env
step, with the same uniform random actions:

1. raw: `mujoco.mj_step(model, data, nstep=20)` after writing the action into `data.ctrl`,
   the most any env on this model can do. Each round it starts from a copy of rapid's
   simulator state, so the two step through the same states (the cost of a step depends on
   the contacts) and their ratio is rapid's own overhead;
2. gymnasium-robotics' `HandManipulateBlock-v1` through `gymnasium.make`;
3. rapid's `ShadowHandBlock` through `gymnasium.make` (the same wrappers RLlib's runners add).

Each env is reset when its episode ends, so reset cost counts: gymnasium-robotics' TimeLimit
ends an episode every 100 steps (and its reset settles for 10 steps), while under random
actions the block stays cradled in the palm and rapid's episodes run to the 80 s timeout.

The process pins itself to CPU 0 and runs many short rounds, each stepping the three in
turn, so that machine noise hits all alike. Each contestant's steps/s is the median over
rounds; the fractions are the median over rounds of each round's ratio to the raw limit
(a burst of load on a shared machine spoils a few rounds, not the figure). The figure of
merit is rapid_fraction_of_raw (target >= 0.85). The last line printed is one JSON object.

    python benchmarks/hand_env_speed.py           # 20,000 steps each, in 40 rounds
    python benchmarks/hand_env_speed.py --quick   # 1,500 steps each, in 6 rounds, well under a minute
"""

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable

import gymnasium
import gymnasium_robotics
import mujoco
import numpy as np
from gymnasium.envs.registration import EnvSpec

from rapid.envs.robotics.shadow_hand_block import MODEL_XML, ShadowHandBlock

WARMUP_STEPS = 50


def raw_runner(start_state: mujoco.MjData) -> Callable[[np.ndarray], int]:
    """The limit: only the simulator, from `start_state` copied before the clock starts, actions mapped onto ctrlrange."""
    model = mujoco.MjModel.from_xml_path(str(MODEL_XML))
    data = mujoco.MjData(model)
    lower, upper = model.actuator_ctrlrange.T

    def run(actions: np.ndarray) -> int:
        mujoco.mj_copyData(data, model, start_state)
        ctrls = (upper + lower) / 2 + actions * (upper - lower) / 2
        start = time.perf_counter_ns()
        for ctrl in ctrls:
            data.ctrl[:] = ctrl
            mujoco.mj_step(model, data, nstep=20)
        return time.perf_counter_ns() - start

    return run


def env_runner(env: gymnasium.Env) -> Callable[[np.ndarray], int]:
    """Step an env through the actions, resetting when an episode ends; nanoseconds spent."""
    env.reset(seed=0)

    def run(actions: np.ndarray) -> int:
        start = time.perf_counter_ns()
        for action in actions:
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()
        return time.perf_counter_ns() - start

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,500 steps each in 6 rounds")
    parser.add_argument("--steps", type=int, help="env steps per contestant (default 20,000; 1,500 with --quick)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 40; 6 with --quick)")
    args = parser.parse_args()
    steps = args.steps or (1_500 if args.quick else 20_000)
    rounds = args.rounds or (6 if args.quick else 40)

    os.sched_setaffinity(0, {0})
    gymnasium.register_envs(gymnasium_robotics)
    rapid = gymnasium.make(EnvSpec(id="ShadowHandBlock-v0", entry_point=ShadowHandBlock))
    runners = {  # raw runs before rapid each round: it copies the state rapid is about to start from
        "raw": raw_runner(rapid.unwrapped.data),
        "gymnasium_robotics": env_runner(gymnasium.make("HandManipulateBlock-v1")),
        "rapid": env_runner(rapid),
    }
    labels = {
        "raw": "raw mj_step(nstep=20)",
        "gymnasium_robotics": "gymnasium-robotics HandManipulateBlock-v1",
        "rapid": "rapid ShadowHandBlock",
    }
    rng = np.random.default_rng(0)
    for run in runners.values():
        run(rng.uniform(-1, 1, size=(WARMUP_STEPS, 20)).astype(np.float32))

    per_round = steps // rounds
    print(f"{per_round * rounds:,} steps each in {rounds} interleaved rounds of {per_round} on CPU 0")
    rates: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(rounds):
        actions = rng.uniform(-1, 1, size=(per_round, 20)).astype(np.float32)
        for name, run in runners.items():
            rates[name].append(per_round / run(actions) * 1e9)

    fractions = {name: [r / raw for r, raw in zip(rates[name], rates["raw"], strict=True)] for name in runners}
    print(f"\n{'':45}{'steps/s':>10}{'% of raw':>10}{'us/step':>10}   % of raw per round (min-max)")
    for name in runners:
        steps_per_s, fraction = statistics.median(rates[name]), statistics.median(fractions[name])
        spread = f"{min(fractions[name]):.0%}-{max(fractions[name]):.0%}"
        print(f"{labels[name]:45}{steps_per_s:>10,.0f}{fraction:>10.1%}{1e6 / steps_per_s:>10.0f}   {spread}")
    print(json.dumps({
        "steps_per_contestant": per_round * rounds,
        "rounds": rounds,
        "raw_steps_per_s": round(statistics.median(rates["raw"]), 1),
        "gymnasium_robotics_steps_per_s": round(statistics.median(rates["gymnasium_robotics"]), 1),
        "rapid_steps_per_s": round(statistics.median(rates["rapid"]), 1),
        "rapid_fraction_of_raw": round(statistics.median(fractions["rapid"]), 4),
        "gymnasium_robotics_fraction_of_raw": round(statistics.median(fractions["gymnasium_robotics"]), 4),
    }))


if __name__ == "__main__":
    main()

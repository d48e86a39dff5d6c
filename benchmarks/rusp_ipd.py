"""RUSP on the social games: does direct reciprocity emerge, do pairs form, and what does the wrapper cost?

1. Speed, on one core (the process pins itself to one CPU), in alternating rounds: env steps/s of
   each social game as the EnvRunners make it (`rapid.platform.env_stack.make_env`, uniform random
   actions, reset at each episode end), and RUSP's overhead, 1 - wrapped/bare (medians of per-round
   ratios), on the Prisoner's Dilemma (target <= 0.20) and on the hide-and-seek quadrant job's env
   (target <= 0.05).
2. Learning: jobs/rusp_ipd.yaml for `--budget` seconds per run, RUSP on (the job) and off (the
   selfish baseline: `env_config.rusp.evaluation=true`, the same observations with identity
   relationships), for each seed. Figures per run, each the mean of its last 3 evaluations (played
   selfish, against each fixed partner): the learned policy's cooperation rate against
   tit-for-tat, always-cooperate and always-defect; and the mean social welfare (both players' own
   rewards summed per episode) of its last 10 training iterations of self-play. The paper's result:
   RUSP agents cooperate with tit-for-tat (>= 0.8) and defect against always-defect (<= 0.2), selfish
   ones defect against everyone (<= 0.2).
3. Team formation (`--games buddy`): jobs/rusp_prisoners_buddy.yaml the same way, RUSP on and off;
   figures per run are the means of the last 10 training iterations of the share of agents in
   mutual pairs at the reward rounds (`mutual_share`), how long pairs last (`pair_length`) and the
   social welfare. The paper: RUSP agents form stable pairs, selfish ones much less so.

The last line printed is one JSON object with every figure.

    python benchmarks/rusp_ipd.py --budget 900 --seeds 0,1,2   # 12 runs of 15 minutes (both games)
    python benchmarks/rusp_ipd.py --only learning --games buddy
    python benchmarks/rusp_ipd.py --only speed
    python benchmarks/rusp_ipd.py --quick                      # a few thousand steps, the smoke profile: wiring only
"""

import argparse
import json
import os
import statistics
import tempfile
import time
from typing import Any

import numpy as np
import yaml
from common import ROOT, run_rapid

from rapid.platform.env_stack import make_env

GAMES = ("prisoners_dilemma", "indirect_reciprocity", "prisoners_buddy", "oasis")
PARTNERS = ("tit_for_tat", "always_cooperate", "always_defect")
ARMS = {"rusp": [], "selfish": ["env_config.rusp.evaluation=true"]}


# --- 1. speed ------------------------------------------------------------------------------------


def steps_per_s(env: Any, steps: int, rng: np.random.Generator) -> float:
    agents = list(env.possible_agents)
    spaces = [env.action_spaces[agent] for agent in agents]
    for space, seed in zip(spaces, rng.integers(0, 2**31, len(spaces)), strict=True):
        space.seed(int(seed))
    actions = [{agent: space.sample() for agent, space in zip(agents, spaces, strict=True)} for _ in range(steps)]
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated["__all__"] or truncated["__all__"]:
            env.reset()
    return steps / (time.perf_counter() - start)


def overhead(env_id: str, env_config: dict[str, Any], rounds: int, steps: int, rng: np.random.Generator) -> dict[str, float]:
    """Bare and RUSP-wrapped env steps/s (medians) and the overhead, the median of 1 - wrapped/bare per round."""
    envs = {"bare": make_env(env_id, env_config), "rusp": make_env(env_id, {**env_config, "rusp": {}})}
    for env in envs.values():
        env.reset(seed=0)
    rates: dict[str, list[float]] = {name: [] for name in envs}
    for r in range(rounds):
        for name in list(envs) if r % 2 == 0 else list(envs)[::-1]:
            rates[name].append(steps_per_s(envs[name], steps, rng))
    for env in envs.values():
        env.close()
    return {
        "bare_steps_per_s": statistics.median(rates["bare"]),
        "rusp_steps_per_s": statistics.median(rates["rusp"]),
        "rusp_overhead": statistics.median(1 - w / b for w, b in zip(rates["rusp"], rates["bare"], strict=True)),
    }


def speed_part(quick: bool) -> dict[str, float]:
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cpus)})
    rng = np.random.default_rng(0)
    figures: dict[str, float] = {}
    try:
        for game in GAMES:
            env = make_env(game, {})
            env.reset(seed=0)
            rates = [steps_per_s(env, 2000 if quick else 20000, rng) for _ in range(3)]
            figures[f"{game}/env_steps_per_s"] = statistics.median(rates)
            print(f"{game}: {figures[f'{game}/env_steps_per_s']:,.0f} env steps/s", flush=True)
        quadrant = yaml.safe_load((ROOT / "jobs" / "hide_and_seek_quadrant.yaml").read_text())["env_config"]
        for name, env_id, env_config, rounds, steps, target in (
            ("prisoners_dilemma", "prisoners_dilemma", {}, 4 if quick else 20, 2000 if quick else 20000, 0.20),
            ("hide_and_seek_quadrant", "hide_and_seek", quadrant, 2 if quick else 20, 80 if quick else 800, 0.05),
        ):
            found = overhead(env_id, env_config, rounds, steps, rng)
            figures.update({f"{name}/{key}": value for key, value in found.items()})
            print(f"{name}: bare {found['bare_steps_per_s']:,.0f}, RUSP {found['rusp_steps_per_s']:,.0f} env steps/s, "
                  f"overhead {found['rusp_overhead']:.3f} (target <= {target})", flush=True)
    finally:
        os.sched_setaffinity(0, cpus)
    return figures


# --- 2. learning ---------------------------------------------------------------------------------


def last_mean(table: dict[str, list], column: str, count: int) -> float:
    """The mean of a column's last `count` recorded (non-NaN) values; NaN when it has none."""
    values = [v for v in table.get(column, []) if v is not None and v == v]
    return float(np.mean(values[-count:])) if values else float("nan")


def ipd_figures(table: dict[str, list]) -> dict[str, float]:
    found = {f"cooperation_vs_{p}": last_mean(table, f"evaluation/env_runners/against/{p}/cooperation", 3) for p in PARTNERS}
    return {**found, "social_welfare": last_mean(table, "env_runners/social_welfare", 10)}


def buddy_figures(table: dict[str, list]) -> dict[str, float]:
    return {key: last_mean(table, f"env_runners/{key}", 10) for key in ("mutual_share", "pair_length", "social_welfare")}


# game -> (its job, the prefix of its figures, what a run reports)
LEARNING = {
    "ipd": (ROOT / "jobs" / "rusp_ipd.yaml", "", ipd_figures),
    "buddy": (ROOT / "jobs" / "rusp_prisoners_buddy.yaml", "buddy/", buddy_figures),
}


def learning_part(game: str, budget: float, seeds: list[int], quick: bool, keep: str | None) -> dict[str, float]:
    """Each arm (RUSP, selfish) and seed trained for `budget` seconds; per-run and per-arm figures."""
    spec, prefix, reported = LEARNING[game]
    job = yaml.safe_load(spec.read_text())["name"]
    overrides = ["stop={iterations: 3}"] if quick else [f"stop.wall_time_s={budget}", "stop.env_steps=10000000000"]
    profile = "smoke" if quick else None
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as scratch:
        storage = keep or scratch
        for arm, arm_overrides in ARMS.items():
            for seed in seeds:
                done = run_rapid(spec, [*overrides, *arm_overrides, f"seed={seed}"], storage, job, profile)
                found = {**reported(done["table"]), "env_steps": float(done["env_steps"] or 0)}
                figures.update({f"{prefix}{arm}/seed{seed}/{key}": value for key, value in found.items()})
                shown = ", ".join(f"{key} {value:,.2f}" for key, value in found.items())
                print(f"{game} {arm} seed {seed}: {shown}", flush=True)
        for arm in ARMS:
            for key in set(found) - {"env_steps"}:
                figures[f"{prefix}{arm}/{key}"] = float(np.mean([figures[f"{prefix}{arm}/seed{seed}/{key}"] for seed in seeds]))
    if game == "ipd":
        figures["met/rusp_reciprocates"] = float(figures["rusp/cooperation_vs_tit_for_tat"] >= 0.8
                                                 and figures["rusp/cooperation_vs_always_defect"] <= 0.2)
        figures["met/selfish_defects"] = float(all(figures[f"selfish/cooperation_vs_{p}"] <= 0.2 for p in PARTNERS))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, default=900.0, help="seconds of training per run")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--only", choices=("speed", "learning"), help="run one part")
    parser.add_argument("--games", default="ipd,buddy", help="the games the learning part trains: ipd, buddy or both")
    parser.add_argument("--keep", help="keep the runs under this storage path (default: a temporary folder)")
    parser.add_argument("--quick", action="store_true", help="the smoke profile for 3 iterations, one seed; short speed rounds")
    args = parser.parse_args()
    seeds = [0] if args.quick else [int(s) for s in args.seeds.split(",")]
    result: dict[str, float] = {}
    if args.only in (None, "speed"):
        result.update(speed_part(args.quick))
    if args.only in (None, "learning"):
        result.update({"budget_s": args.budget, "seeds": len(seeds)})
        for game in args.games.split(","):
            if game not in LEARNING:
                parser.error(f"--games: unknown game '{game}' (known: {', '.join(LEARNING)})")
            result.update(learning_part(game, args.budget, seeds, args.quick, args.keep))
    print(json.dumps({k: round(v, 4) for k, v in result.items()}))


if __name__ == "__main__":
    main()

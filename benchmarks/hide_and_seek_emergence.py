"""Which hide-and-seek phases emerge? jobs/hide_and_seek_quadrant.yaml trained for a budget, its
emergence metrics plotted against env steps beside their random-action levels.

1. Random-action levels: the job's env plays `--episodes` episodes with uniform random actions;
   each metric's mean over them.
2. Training: the job as shipped for `--budget` seconds on an embedded Ray (or a kept run, `--run`).
3. Phases (docs/hide_and_seek.md): each metric smoothed over `--window` iterations; a phase is
   reached at the first env step where its rule holds:
   - chasing: hidden_share below its random level by 0.1 (seekers find the hiders more than chance);
   - running and chasing: hidden_share above its random level by 0.1 (hiders then escape them);
   - door blocking: max_box_move_prep above 1 m and boxes_locked_by_hiders at least 1;
   - ramp use: max_seeker_height above 0.5 m;
   - ramp defence: ramps_locked_by_hiders at least 0.5.
   The plot (`plots/emergence.png` in the run) draws the metrics with their random levels.

    python benchmarks/hide_and_seek_emergence.py --budget 3600 --keep runs    # an hour of training
    python benchmarks/hide_and_seek_emergence.py --run runs/hide_and_seek_quadrant/<timestamp>
    python benchmarks/hide_and_seek_emergence.py --quick                       # the smoke profile, under a minute
"""

import argparse
import json
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from common import ROOT, run_rapid

from rapid.envs.hide_and_seek import make_hide_and_seek
from rapid.envs.hide_and_seek.rules import METRIC_KEYS
from rapid.platform.run_dir import read_metrics
from rapid.platform.spec_file import load_spec

SPEC = ROOT / "jobs" / "hide_and_seek_quadrant.yaml"
JOB = "hide_and_seek_quadrant"
# phase -> (metric, rule on the smoothed value given the metric's random level)
PHASES = {
    "chasing": (("hidden_share",), lambda v, r: v["hidden_share"] < r["hidden_share"] - 0.1),
    "running_and_chasing": (("hidden_share",), lambda v, r: v["hidden_share"] > r["hidden_share"] + 0.1),
    "door_blocking": (
        ("max_box_move_prep", "boxes_locked_by_hiders"),
        lambda v, r: v["max_box_move_prep"] > 1.0 and v["boxes_locked_by_hiders"] >= 1.0,
    ),
    "ramp_use": (("max_seeker_height",), lambda v, r: v["max_seeker_height"] > 0.5),
    "ramp_defence": (("ramps_locked_by_hiders",), lambda v, r: v["ramps_locked_by_hiders"] >= 0.5),
}
PLOTTED = ("hidden_share", "max_box_move_prep", "boxes_locked_by_hiders", "max_seeker_height", "ramps_grabbed_by_seekers")


def random_levels(episodes: int, seed: int = 0) -> dict[str, float]:
    """Each emergence metric's mean over episodes of uniform random actions."""
    job = load_spec(SPEC).job
    env = make_hide_and_seek(dict(job.env_config))
    for agent in env.possible_agents:
        env.action_space(agent).seed(seed)
    finals: list[dict[str, float]] = []
    for episode in range(episodes):
        env.reset(seed=seed + episode)
        while env.agents:
            actions = {agent: env.action_space(agent).sample() for agent in env.agents}
            _, _, _, _, infos = env.step(actions)
        finals.append(next(iter(infos.values())))
    env.close()
    return {key: float(np.mean([f[key] for f in finals])) for key in METRIC_KEYS}


def smoothed(values: list[float], window: int) -> np.ndarray:
    """A trailing mean over `window` iterations, gaps (NaN) left out."""
    series = np.asarray(values, dtype=float)
    out = np.full_like(series, np.nan)
    for i in range(len(series)):
        recent = series[max(0, i - window + 1) : i + 1]
        if np.isfinite(recent).any():
            out[i] = np.nanmean(recent)
    return out


def phases(table: dict[str, list], random: dict[str, float], window: int) -> dict[str, float | None]:
    """The first env step at which each phase's rule holds on the smoothed metrics, or None."""
    curves = {key: smoothed(table[f"env_runners/{key}"], window) for key in METRIC_KEYS if f"env_runners/{key}" in table}
    reached: dict[str, float | None] = {}
    for phase, (needs, rule) in PHASES.items():
        reached[phase] = None
        if not all(key in curves for key in needs):
            continue
        for i, steps in enumerate(table["env_steps"]):
            values = {key: curves[key][i] for key in needs}
            if all(np.isfinite(v) for v in values.values()) and rule(values, random):
                reached[phase] = float(steps)
                break
    return reached


def plot(run: Path, table: dict[str, list], random: dict[str, float], window: int) -> Path:
    figure, axes = plt.subplots(len(PLOTTED), 1, figsize=(7, 2.2 * len(PLOTTED)), sharex=True)
    steps = np.asarray(table["env_steps"], dtype=float)
    for ax, key in zip(axes, PLOTTED, strict=True):
        ax.plot(steps, smoothed(table[f"env_runners/{key}"], window), label=f"trained ({window}-iteration mean)")
        ax.axhline(random[key], color="gray", linestyle="--", label="random actions")
        ax.set_ylabel(key, fontsize=8)
        ax.legend(fontsize=7, loc="upper left")
    axes[-1].set_xlabel("env steps")
    figure.suptitle(f"{JOB}: emergence metrics", fontsize=10)
    figure.tight_layout()
    out = run / "plots" / "emergence.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, default=3600.0, help="seconds of training")
    parser.add_argument("--episodes", type=int, default=200, help="random-action episodes for the levels")
    parser.add_argument("--window", type=int, default=10, help="iterations each metric is averaged over")
    parser.add_argument("--run", help="judge this kept run instead of training one")
    parser.add_argument("--keep", help="keep the trained run under this storage path (default: a temporary folder)")
    parser.add_argument("--quick", action="store_true", help="the smoke profile for 3 iterations, 5 random episodes")
    args = parser.parse_args()
    episodes, window = (5, 2) if args.quick else (args.episodes, args.window)
    random = random_levels(episodes)
    print("random-action levels: " + ", ".join(f"{k} {v:.3f}" for k, v in random.items()), flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        if args.run:
            run = Path(args.run)
        else:
            storage = args.keep or scratch
            budget = [f"stop.wall_time_s={args.budget}", "stop.env_steps=10000000000"]
            overrides = ["stop={iterations: 3}"] if args.quick else budget
            run_rapid(SPEC, overrides, storage, JOB, profile="smoke" if args.quick else None)
            run = sorted(Path(storage, JOB).iterdir())[-1]
        table = read_metrics(run)
        reached = phases(table, random, window)
        drawn = plot(run, table, random, window)
        last = {key: float(smoothed(table[f"env_runners/{key}"], window)[-1]) for key in PLOTTED}
        print(f"{table['env_steps'][-1]:,.0f} env steps in {table['wall_time_s'][-1]:.0f} s; plot {drawn}")
        for phase, steps in reached.items():
            print(f"  {phase:22s} {'not reached' if steps is None else f'reached at {steps:,.0f} env steps'}")
        result = {
            "env_steps": table["env_steps"][-1],
            "train_s": round(table["wall_time_s"][-1], 1),
            "random_episodes": episodes,
            **{f"random/{k}": round(v, 4) for k, v in random.items() if k in PLOTTED},
            **{f"last/{k}": round(v, 4) for k, v in last.items()},
            **{f"phase/{k}": v for k, v in reached.items()},
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

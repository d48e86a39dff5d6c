"""What every benchmark here does the same way: run `rapid run` in a fresh process and read its figures."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rapid.platform.run_dir import read_metrics

ROOT = Path(__file__).resolve().parent.parent


def run_rapid(spec: Path, overrides: list[str], storage: str, job: str, profile: str | None = None) -> dict[str, Any]:
    """`rapid run spec [--profile P] --set ...` on its own embedded Ray; env steps, seconds inside
    iterations, wall seconds, the run's metrics table (column -> values) and its folder."""
    start = time.time()
    args = [sys.executable, "-m", "rapid", "run", str(spec), "--set", f"storage_path={storage}"]
    args += ["--profile", profile] if profile else []
    for override in overrides:
        args += ["--set", override]
    done = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "RAY_ADDRESS": "local"})
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args[1:])} exited {done.returncode}:\n{done.stderr[-4000:]}")
    wall = time.time() - start
    newest = sorted(Path(storage, job).iterdir())[-1]
    table = read_metrics(newest)
    return {"env_steps": table.get("env_steps", [None])[-1], "train_s": sum(table.get("iteration_s", [])), "wall_s": wall,
            "table": table, "run": newest}


def last_per_trial(table: dict[str, list], column: str) -> dict[str, Any]:
    """Each trial's largest value of `column` in a run's metrics table (epochs or iterations it reached)."""
    last: dict[str, Any] = {}
    for trial, value in zip(table["trial_id"], table[column], strict=True):
        last[trial] = max(last.get(trial, value), value)
    return last


def run_baseline(script: str, args: list[str]) -> dict[str, float]:
    """A baseline in a fresh process (`python script args`), which prints its figures as its last line."""
    start = time.time()
    out = subprocess.run(
        [sys.executable, script, *args], capture_output=True, text=True, check=True, cwd=ROOT,
        env={**os.environ, "RAY_ADDRESS": "local"},
    )
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    figures["wall_s"] = time.time() - start
    return figures


def train_plain(config: Any, iterations: int) -> dict[str, float]:
    """A baseline's loop: build the AlgorithmConfig's algorithm, train `iterations` times, shut
    Ray down; env steps sampled and the seconds spent inside training iterations."""
    import ray

    algo = config.build_algo()
    train_s, steps = 0.0, 0.0
    for _ in range(iterations):
        result = algo.train()
        train_s += result["time_this_iter_s"]
        steps = result["num_env_steps_sampled_lifetime"]
    algo.stop()
    ray.shutdown()
    return {"env_steps": steps, "train_s": train_s}

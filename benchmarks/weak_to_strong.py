"""Weak-to-strong generalization on the ladder pretrained here: does the ladder's accuracy rise with
size, how much of the gap does a student recover from a weaker model's labels (PGR), and does the
auxiliary confidence loss recover more than naive cross-entropy on the largest gaps?

1. The study: `rapid run jobs/weak_to_strong.yaml --profile laptop` (pretraining the four sizes,
   every size's weak and ceiling models on each task and seed, every pair's students with `xent`
   and `logconf`); its wall-clock time is the laptop profile's budget.
2. The ladder: each size's parameters, pretraining throughput (tokens/s, two trials sharing two
   cores) and final LM loss, from the models' own records in the cache.
3. Accuracy by size: each task's ceiling (trained on ground truth) per size, mean and std over
   seeds, and whether it rises from the smallest size to the largest beyond twice their spread.
4. PGR: every pair whose gap exceeds twice its spread over seeds, naive against the confidence
   loss; the share of called pairs with naive PGR > 0; on each task's largest-gap pair, logconf's
   PGR minus xent's.
5. Settings, side by side on the ground-truth stage (`comparison`, every size and seed, same
   cache, same halves): the laptop's learning rate against the paper's 5e-5 (for pretrained
   GPT-2s) and the former 3e-4; and a linear probe (body frozen), which shows how much of the
   task the pretrained models hold before fine-tuning: the latent knowledge the paper's students
   draw on.

The last line printed is one JSON object with every figure. With `--keep DIR` the study's run is
kept there and a rerun reads it instead of training again.

    python benchmarks/weak_to_strong.py --keep /tmp/w2s_bench
    python benchmarks/weak_to_strong.py --quick      # parts 1-4 on the smoke profile: wiring only
"""

import argparse
import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any

from common import ROOT, run_rapid

from rapid.sweeps.llm.config import SIZES, W2SConfig
from rapid.sweeps.llm.ladder import lm_meta

JOB = ROOT / "jobs" / "weak_to_strong.yaml"
PAPER_LR = 5e-5  # jobs/weak_to_strong/*.yaml, profile paper
LAPTOP_LR = W2SConfig.model_fields["lr"].default
FORMER_LR = 3e-4  # the laptop profile's until 2026-12-07


def study(keep: Path, profile: str) -> tuple[Path, float]:
    """The finished study run in `keep` (run now unless one is there) and its wall seconds."""
    done = [p for p in sorted((keep / "weak_to_strong").glob("*")) if (p / "summary.json").exists()
            and json.loads((p / "summary.json").read_text())["status"] == "finished"]
    if done:
        return done[-1], json.loads((keep / "study_wall_s.json").read_text())["wall_s"]
    start = time.time()
    run = run_rapid(JOB, [], str(keep), "weak_to_strong", profile)["run"]
    wall = time.time() - start
    (keep / "study_wall_s.json").write_text(json.dumps({"wall_s": wall}))
    return run, wall


def ladder(run: Path) -> dict[str, dict[str, float]]:
    figures = {}
    for folder in sorted((run / "cache" / "ladder").iterdir()):
        meta = lm_meta(folder)["figures"]
        figures[folder.name] = {k: meta[k] for k in ("parameters", "tokens_per_s", "lm_loss")}
    return figures


def accuracy_by_size(run: Path) -> dict[str, Any]:
    """Each task's ceiling accuracy per size (ladder order, as the report lists them)."""
    models = json.loads((run / "ground_truth" / "summary.json").read_text())["report"]["models"]
    by_task: dict[str, Any] = {}
    for row in models:
        by_task.setdefault(row["task"], {})[row["model"]] = row["ceiling_accuracy"]
    out = {}
    for task, sizes in by_task.items():
        first, last = sizes[min(sizes, key=SIZES.index)], sizes[max(sizes, key=SIZES.index)]
        out[task] = {"ceiling": {size: _round(a) for size, a in sorted(sizes.items(), key=lambda kv: SIZES.index(kv[0]))},
                     "rises": last["mean"] - first["mean"] > 2 * max(first["std"], last["std"])}
    return out


def _round(spread: dict[str, float]) -> dict[str, float]:
    return {"mean": round(spread["mean"], 3), "std": round(spread["std"], 3)}


def pgr_figures(run: Path) -> dict[str, Any]:
    """Called pairs' PGR by loss; naive PGR > 0 share; logconf - xent on each task's largest gap."""
    pairs = json.loads((run / "summary.json").read_text())["report"]["pairs"]
    table: dict[str, Any] = {}
    for row in pairs:
        key = f"{row['task']}:{row['weak']}->{row['strong']}"
        entry = table.setdefault(key, {"gap": round(row["gap"]["mean"], 3), "gap_std": round(row["gap"]["std"], 3),
                                       "called": row["called"]})
        entry[row["loss"]] = round(row["pgr"]["mean"], 3)
    called = {k: v for k, v in table.items() if v["called"]}
    naive_positive = [v["xent"] > 0 for v in called.values() if "xent" in v]
    largest = {}
    for key, value in called.items():
        task = key.split(":")[0]
        if task not in largest or value["gap"] > called[largest[task]]["gap"]:
            largest[task] = key
    lift = {k: round(called[k]["logconf"] - called[k]["xent"], 3) for k in largest.values()
            if {"logconf", "xent"} <= set(called[k])}
    return {"pairs": table, "called": len(called), "of": len(table),
            "naive_pgr_positive_share": round(sum(naive_positive) / len(naive_positive), 3) if naive_positive else math.nan,
            "logconf_minus_xent_on_largest_gap": lift}


def ground_truth_variants(run: Path, keep: Path, profile: str) -> dict[str, dict[str, dict[str, float]]]:
    """Ceiling accuracy per size on `comparison` (every seed, the study's halves and cache) at the
    laptop's settings, at the paper's and the former learning rate, and as a linear probe (the
    body frozen: how much of the task the pretrained representations already hold)."""
    spec = ROOT / "jobs" / "weak_to_strong" / "ground_truth.yaml"
    variants = {f"lr {LAPTOP_LR:g} (laptop)": [], f"lr {PAPER_LR:g}": [f"config.lr={PAPER_LR}"],
                f"lr {FORMER_LR:g}": [f"config.lr={FORMER_LR}"], "linear probe": ["config.linear_probe=true"]}
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name, overrides in variants.items():
        folder = keep / name.split(" (")[0].replace(" ", "_")
        variant = run_rapid(spec, ["param_space.task={grid_search: [comparison]}", f"config.cache={run}/cache", *overrides],
                            str(folder), "ground_truth", profile)["run"]
        models = json.loads((variant / "summary.json").read_text())["report"]["models"]
        out[name] = {row["model"]: _round(row["ceiling_accuracy"]) for row in models}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="parts 1-4 on the smoke profile: wiring only")
    parser.add_argument("--keep", type=Path, help="keep the study here; a rerun reads it")
    args = parser.parse_args()
    profile = "smoke" if args.quick else "laptop"
    keep = args.keep or Path(tempfile.mkdtemp(prefix="w2s_bench_"))
    keep.mkdir(parents=True, exist_ok=True)
    run, wall = study(keep, profile)
    figures: dict[str, Any] = {"profile": profile, "study_wall_min": round(wall / 60, 1), "ladder": ladder(run),
                               "accuracy_by_size": accuracy_by_size(run), "pgr": pgr_figures(run)}
    if not args.quick:
        print(json.dumps(figures, indent=1))
        figures["comparison_ceiling_by_setting"] = ground_truth_variants(run, keep, profile)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

"""Record the `metaqnn_digits_long` family of learning curves with rapid's own `cnn` trainable.

Samples networks from the MetaQNN space at epsilon 1 (random walks, as MetaQNN's first stage),
runs `jobs/curve_family_digits.yaml` over them (100 epochs each at a constant learning rate
drawn log-uniformly in [0.002, 2]), and writes every curve to a curve file beside the shipped
ones. The defaults made the shipped file: about 40 minutes on 2 cores.

    python benchmarks/record_curve_family.py                       # 240 networks -> data/learning_curves/metaqnn_digits_long.csv
    python benchmarks/record_curve_family.py --networks 4 --epochs 3 --out /tmp/tiny.csv
"""

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from common import ROOT, run_rapid

from rapid.sweeps.learning_curves import export_curves, load_curves
from rapid.sweeps.metaqnn_searcher import MetaQNNSearcher

JOB = ROOT / "jobs" / "curve_family_digits.yaml"
# The metaqnn space sized for 8x8 digits and a 2-core budget: at most 6 layers of 8 to 32 filters.
SPACE = {"conv_filters": [8, 16, 32], "conv_fields": [1, 3, 5], "pools": [[3, 2], [2, 2]], "fc_units": [64, 32], "max_depth": 6}


def sample_nets(count: int, seed: int) -> list[list[str]]:
    searcher = MetaQNNSearcher(metric="val_accuracy", mode="max", space=SPACE, seed=seed, epsilon_schedule=[[1.0, count]])
    searcher.set_search_properties("val_accuracy", "max", {"dataset": "digits"})
    return [searcher.sample_net(1.0) for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--networks", type=int, default=240)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "learning_curves" / "metaqnn_digits_long.csv")
    args = parser.parse_args()
    nets = sample_nets(args.networks, args.seed)
    overrides = [f"param_space.net={{grid_search: {json.dumps(nets)}}}", f"stop.iterations={args.epochs}",
                 f"checkpoint.every={args.epochs}"]  # fmt: skip
    with tempfile.TemporaryDirectory() as storage:
        out = run_rapid(JOB, overrides, storage, "curve_family_digits")
        written = export_curves(out["run"], args.out, args.epochs, "digits")
    values = load_curves(args.out).values
    finals, peaks = values[:, -1], values.max(axis=1)
    figures = {
        "networks": written,
        "epochs": args.epochs,
        "diverged_share": round(float(np.mean(finals < 0.2)), 3),
        "diverged_after_learning_share": round(float(np.mean((finals < 0.2) & (peaks >= 0.5))), 3),
        "best_final": round(float(finals.max()), 4),
        "wall_s": round(out["wall_s"]),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

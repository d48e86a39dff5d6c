"""Learning-curve performance prediction on the recorded curves of data/learning_curves/.

1. R^2 of the predicted final value after 25% of the epochs, for each file and regressor: fitted
   on 100 fully trained networks (as in the paper), tested on all the others.
2. The sweep, run with `rapid run jobs/early_stop_replay.yaml` (each trial replays one recorded
   curve): epochs spent and whether the best network ran to the end, for no early stopping
   (fifo), rapid's `performance_prediction` scheduler, Tune's ASHA (its defaults: grace period 1,
   reduction factor 4) and `performance_prediction_hyperband` (ASHA plus the prediction's stop,
   from 15 finished networks on),
   side by side in the same trial orders: the file's own and shuffled ones.

    python benchmarks/performance_prediction.py            # every file; metaqnn in 4 orders (about 20 min)
    python benchmarks/performance_prediction.py --quick    # metaqnn's first 200 networks, file order (under a minute)
"""

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from common import ROOT, last_per_trial, run_rapid

from rapid.sweeps.learning_curves import load_curves
from rapid.sweeps.performance_prediction import REGRESSORS, CurvePredictor

CURVES = ROOT / "data" / "learning_curves"
JOB = ROOT / "jobs" / "early_stop_replay.yaml"
# file -> the job's profile for it
FILES = {"metaqnn_cifar10.csv": None, "deep_resnets_cifar10.csv": "resnets", "lstm_ptb.csv": "lstm"}
TRAIN_CURVES = 100
ARMS = {
    "fifo": ["scheduler={name: fifo}"],
    "performance_prediction": [],  # the job's own scheduler
    "asha": ["scheduler={name: asha, options: {max_t: %d, grace_period: 1, reduction_factor: 4}}"],
    # these brackets let 2-4% of the networks run to the end: the predictor starts from 15 (the job's hyperband profile)
    "performance_prediction_hyperband": ["scheduler.name=performance_prediction_hyperband", "scheduler.options.min_finished=15"],
}


def r_squared(path: Path, regressor: str, seed: int = 0) -> float:
    curves = load_curves(path)
    features = np.stack(list(curves.features.values()), axis=1)
    order = np.random.default_rng(seed).permutation(len(curves))
    train, test = order[:TRAIN_CURVES], order[TRAIN_CURVES:]
    predictor = CurvePredictor(curves.epochs, regressor, min_finished=TRAIN_CURVES)
    for row in train:
        predictor.add_finished(curves.values[row], features[row])
    seen = max(1, round(curves.epochs * 0.25))
    predicted = np.array([predictor.predict(curves.values[row, :seen], features[row])[0] for row in test])
    final = curves.values[test, -1]
    return float(1 - ((predicted - final) ** 2).sum() / ((final - final.mean()) ** 2).sum())


def sweep(file: str, arm: str, rows: list[int], storage: str) -> dict[str, float]:
    """One `rapid run` of the replay job: epochs spent, the best network kept, wall seconds."""
    curves = load_curves(CURVES / file)
    overrides = [f"config.curves={CURVES / file}", f"param_space.row={{grid_search: {json.dumps(rows)}}}"]
    overrides += [o % curves.epochs if "%d" in o else o for o in ARMS[arm]]
    out = run_rapid(JOB, overrides, storage, "early_stop_replay", FILES[file])
    table = out["table"]
    sign = 1 if curves.mode == "max" else -1
    best = max(rows, key=lambda r: sign * curves.values[r, -1])
    full = {int(r) for r, i in zip(table["row"], table["iteration"], strict=True) if i == curves.epochs}
    epochs = sum(last_per_trial(table, "iteration").values())
    return {"epochs": epochs, "speedup": len(rows) * curves.epochs / epochs, "best_kept": best in full, "wall_s": out["wall_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="metaqnn's first 200 networks in file order, two arms")
    args = parser.parse_args()
    figures: dict[str, object] = {}
    files = ["metaqnn_cifar10.csv"] if args.quick else list(FILES)
    for file in files:
        for regressor in REGRESSORS:
            key = f"r2_25pct/{file.removesuffix('.csv')}/{regressor}"
            figures[key] = round(r_squared(CURVES / file, regressor), 3)
            print(f"R^2 after 25% of epochs, {file}, {regressor}: {figures[key]}")
    with tempfile.TemporaryDirectory() as storage:
        for file in files:
            count = len(load_curves(CURVES / file))
            orders = {"file": list(range(200 if args.quick else count))}
            if file == "metaqnn_cifar10.csv" and not args.quick:
                orders |= {f"shuffle{s}": [int(r) for r in np.random.default_rng(s).permutation(count)] for s in (1, 2, 3)}
            arms = ["performance_prediction", "asha"] if args.quick else list(ARMS)
            for order, rows in orders.items():
                for arm in arms:
                    if arm == "fifo" and order != "file":
                        continue  # no early stopping: every network to the end, in any order
                    result = sweep(file, arm, rows, storage)
                    key = f"sweep/{file.removesuffix('.csv')}/{order}/{arm}"
                    print(f"{key}: {result['epochs']} epochs ({result['speedup']:.2f}x fewer than no early stopping), "
                          f"best kept: {result['best_kept']}, {result['wall_s']:.0f} s", flush=True)  # fmt: skip
                    figures |= {f"{key}/{k}": round(v, 3) if isinstance(v, float) else v for k, v in result.items()}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

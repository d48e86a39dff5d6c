"""Learning-curve performance prediction on the recorded curves of data/learning_curves/.

1. R^2 of the predicted final value after 25% of the epochs, for each file and regressor
   (`auto` included): fitted on the file's first 100 networks, tested on all the others; also
   on the healthy ones only (a diverged network is easy to call), with a prior: the other files
   of the same metric and mode (leave one family out), and `auto` with targets through their
   natural link (`link: auto`: logits of accuracies, logs of perplexities).
2. The sweep, run with `rapid run jobs/early_stop_replay.yaml` (each trial replays one recorded
   curve): epochs spent and whether the best network ran to the end, for rapid's
   `performance_prediction` scheduler, Tune's ASHA (its defaults: grace period 1, reduction
   factor 4) and `performance_prediction_hyperband` (ASHA plus the prediction's stop, from 15
   finished networks on), side by side in the same trial orders: the file's own and shuffled
   ones. No early stopping spends every network's every epoch and keeps the best by definition.

    python benchmarks/performance_prediction.py                 # every file in 4 orders (about an hour)
    python benchmarks/performance_prediction.py --shuffles 0    # every file in its own order
    python benchmarks/performance_prediction.py --quick         # metaqnn's first 200 networks, file order (under a minute)
"""

import argparse
import json
import tempfile

import numpy as np
from common import ROOT, last_per_trial, run_rapid

from rapid.sweeps.learning_curves import CurveSet, load_curves
from rapid.sweeps.performance_prediction import AUTO, REGRESSORS, CurvePredictor

CURVES = ROOT / "data" / "learning_curves"
JOB = ROOT / "jobs" / "early_stop_replay.yaml"
# file -> the job's profile for it
FILES = {
    "metaqnn_cifar10.csv": None,
    "deep_resnets_cifar10.csv": "resnets",
    "lstm_ptb.csv": "lstm",
    "metaqnn_digits_long.csv": "digits_long",
}
TRAIN_CURVES = 100
ARMS = {
    "performance_prediction": [],  # the job's own scheduler
    "asha": ["scheduler={name: asha, options: {max_t: %d, grace_period: 1, reduction_factor: 4}}"],
    # these brackets let 2-4% of the networks run to the end: the predictor starts from 15 (the job's hyperband profile)
    "performance_prediction_hyperband": ["scheduler.name=performance_prediction_hyperband", "scheduler.options.min_finished=15"],
}


def diverged(curves: CurveSet) -> np.ndarray:
    """Networks whose final value lies in the worst tenth of the file's range of finals."""
    final = curves.values[:, -1]
    worst, best = (final.min(), final.max()) if curves.mode == "max" else (final.max(), final.min())
    return np.abs(final - worst) <= 0.1 * abs(best - worst)


def r_squared(file: str, regressor: str, prior: list[str], link: str = "identity") -> dict[str, object]:
    """R^2 on all the test networks and on the healthy ones, fitted on the first 100; the
    regressor the model after 25% uses and whether the prior's curves train it."""
    curves, families = load_curves(CURVES / file), [load_curves(CURVES / f) for f in prior]
    names = [n for n in curves.features if all(n in family.features for family in families)]
    features = np.stack([curves.features[n] for n in names], axis=1) if names else np.empty((len(curves), 0))
    predictor = CurvePredictor(curves.epochs, regressor, min_finished=TRAIN_CURVES, prior=families, features=names, link=link)
    for row in range(TRAIN_CURVES):
        predictor.add_finished(curves.values[row], features[row])
    seen = max(1, round(curves.epochs * 0.25))
    test = np.arange(TRAIN_CURVES, len(curves))
    predicted = np.array([predictor.predict(curves.values[row, :seen], features[row])[0] for row in test])
    final = curves.values[test, -1]
    healthy = ~diverged(curves)[test]

    def score(mask: np.ndarray) -> float:
        return float(1 - ((predicted[mask] - final[mask]) ** 2).sum() / ((final[mask] - final[mask].mean()) ** 2).sum())

    picked = predictor.picked.get(seen), predictor.with_prior.get(seen)
    return {"all": score(np.ones_like(healthy)), "healthy": score(healthy), "picked": picked[0], "prior_used": picked[1]}


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
    parser.add_argument("--shuffles", type=int, default=3, help="shuffled trial orders per file beside the file's own")
    parser.add_argument("--files", nargs="+", choices=list(FILES), default=list(FILES))
    args = parser.parse_args()
    figures: dict[str, object] = {}
    files = ["metaqnn_cifar10.csv"] if args.quick else args.files
    for file in files:
        curves = load_curves(CURVES / file)
        same = [
            f
            for f in FILES
            if f != file and (load_curves(CURVES / f).metric, load_curves(CURVES / f).mode) == (curves.metric, curves.mode)
        ]
        name = file.removesuffix(".csv")
        figures[f"diverged_share/{name}"] = round(float(diverged(curves).mean()), 3)
        for regressor in (*REGRESSORS, AUTO):
            for prior in [[], same] if same and not args.quick else [[]]:
                result = r_squared(file, regressor, prior)
                key = f"r2_25pct/{name}/{regressor}{'/prior' if prior else ''}"
                figures |= {key: round(result["all"], 3), f"{key}/healthy": round(result["healthy"], 3)}
                if regressor == AUTO:
                    figures[f"{key}/picked"] = result["picked"]
                if prior:
                    figures[f"{key}/prior_used"] = result["prior_used"]
                with_prior = f" with prior {'+'.join(prior)}" if prior else ""
                picked = f" picked {result['picked']}" if regressor == AUTO else ""
                picked += f" (prior used: {result['prior_used']})" if prior else ""
                print(f"R^2 after 25% of epochs, {name}, {regressor}{with_prior}: {result['all']:.3f} "
                      f"(healthy {result['healthy']:.3f}){picked}", flush=True)  # fmt: skip
        result = r_squared(file, AUTO, [], link=AUTO)  # targets as logits (accuracies) or logs (perplexities)
        figures |= {
            f"r2_25pct/{name}/auto/link_auto": round(result["all"], 3),
            f"r2_25pct/{name}/auto/link_auto/healthy": round(result["healthy"], 3),
        }
        print(
            f"R^2 after 25% of epochs, {name}, auto, link auto: {result['all']:.3f} (healthy {result['healthy']:.3f})", flush=True
        )
    with tempfile.TemporaryDirectory() as storage:
        for file in files:
            count = len(load_curves(CURVES / file))
            orders = {"file": list(range(200 if args.quick else count))}
            if not args.quick:
                orders |= {
                    f"shuffle{s}": [int(r) for r in np.random.default_rng(s).permutation(count)]
                    for s in range(1, args.shuffles + 1)
                }
            arms = ["performance_prediction", "asha"] if args.quick else list(ARMS)
            for order, rows in orders.items():
                for arm in arms:
                    result = sweep(file, arm, rows, storage)
                    key = f"sweep/{file.removesuffix('.csv')}/{order}/{arm}"
                    print(f"{key}: {result['epochs']} epochs ({result['speedup']:.2f}x fewer than no early stopping), "
                          f"best kept: {result['best_kept']}, {result['wall_s']:.0f} s", flush=True)  # fmt: skip
                    figures |= {f"{key}/{k}": round(v, 3) if isinstance(v, float) else v for k, v in result.items()}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

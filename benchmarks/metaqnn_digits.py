"""MetaQNN on 8x8 digits within a laptop budget: validation accuracy by epsilon stage, and the best network.

Runs `rapid run jobs/metaqnn_digits.yaml` (180 networks, 10 epochs each, two at a time) and,
with --prediction, `jobs/metaqnn_with_prediction.yaml` (the same search, early-stopped by the
performance-prediction scheduler). Per epsilon stage, from the searcher's report
(metaqnn_report.json in the run folder): the networks sampled (a network sampled again reuses
its score, as in the paper), how many were trained, and their mean best validation accuracy.
Epochs spent include the epochs of restarted networks.

    python benchmarks/metaqnn_digits.py                 # about 10 minutes on 2 cores
    python benchmarks/metaqnn_digits.py --prediction    # also the early-stopped search
    python benchmarks/metaqnn_digits.py --quick         # 12 networks, 3 epochs (under a minute)
"""

import argparse
import json
import tempfile
from pathlib import Path

from common import ROOT, last_per_trial, run_rapid

from rapid.sweeps.metaqnn_searcher import REPORT

QUICK = ["num_samples=12", "search.options.epsilon_schedule=[[1.0, 6], [0.5, 3], [0.1, 3]]", "stop.iterations=3"]


def search(job: str, overrides: list[str], storage: str) -> dict[str, object]:
    """One search: accuracy by epsilon stage, the best network, epochs spent, wall seconds."""
    out = run_rapid(ROOT / "jobs" / f"{job}.yaml", overrides, storage, job)
    run = sorted(Path(storage, job).iterdir())[-1]
    # The searcher's own report (repeats included, as in the paper), saved with the experiment.
    report = json.loads((run / REPORT).read_text())
    # Epochs include a restarted network's retrained first epochs: each trial's last epochs_trained.
    epochs = last_per_trial(out["table"], "epochs_trained")
    return {
        "by_epsilon": {e: {**s, "mean_accuracy": round(s["mean_accuracy"], 4)} for e, s in report["by_epsilon"].items()},
        "best_accuracy": round(report["best_accuracy"], 4),
        "best_net": report["best_net"],
        "epochs": sum(epochs.values()),
        "wall_s": round(out["wall_s"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="12 networks, 3 epochs")
    parser.add_argument("--prediction", action="store_true", help="also run metaqnn_with_prediction")
    args = parser.parse_args()
    jobs = ["metaqnn_digits", *(["metaqnn_with_prediction"] if args.prediction else [])]
    figures = {}
    with tempfile.TemporaryDirectory() as storage:
        for job in jobs:
            quick = QUICK if args.quick else []
            if args.quick and job == "metaqnn_with_prediction":
                quick += ["scheduler.options.max_t=3", "scheduler.options.min_finished=5"]
            result = search(job, quick, storage)
            for epsilon, stage in result["by_epsilon"].items():
                print(f"{job} epsilon {epsilon}: {stage['networks']} networks ({stage['trained']} trained), "
                      f"mean accuracy {stage['mean_accuracy']:.3f}")  # fmt: skip
            print(f"{job}: best {result['best_accuracy']:.4f} with {result['best_net']}, {result['epochs']} epochs, "
                  f"{result['wall_s']} s", flush=True)  # fmt: skip
            figures[job] = result
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

"""MetaQNN on 8x8 digits within a laptop budget: validation accuracy by epsilon stage, and the best network.

Runs `rapid run jobs/metaqnn_digits.yaml` (180 networks, 10 epochs each, two at a time) and,
with --prediction, `jobs/metaqnn_with_prediction.yaml` (the same search, early-stopped by the
performance-prediction scheduler). Per epsilon stage, from the searcher's saved record: the
networks sampled (a network sampled again reuses its score, as in the paper), how many were
trained, and their mean best validation accuracy.

    python benchmarks/metaqnn_digits.py                 # about 10 minutes on 2 cores
    python benchmarks/metaqnn_digits.py --prediction    # also the early-stopped search
    python benchmarks/metaqnn_digits.py --quick         # 12 networks, 3 epochs (under a minute)
"""

import argparse
import json
import pickle
import statistics
import tempfile
from pathlib import Path

from common import ROOT, run_rapid

QUICK = ["num_samples=12", "search.options.epsilon_schedule=[[1.0, 6], [0.5, 3], [0.1, 3]]", "stop.iterations=3"]


def search(job: str, overrides: list[str], storage: str) -> dict[str, object]:
    """One search: accuracy by epsilon stage, the best network, epochs spent, wall seconds."""
    out = run_rapid(ROOT / "jobs" / f"{job}.yaml", overrides, storage, job)
    run = sorted(Path(storage, job).iterdir())[-1]
    summary = json.loads((run / "summary.json").read_text())
    # The searcher's own record (saved with the experiment) has every sampled network, repeats included.
    history = pickle.loads(sorted(run.glob("searcher-state-*.pkl"))[-1].read_bytes())["history"]
    by_epsilon = {}
    for epsilon in sorted({h["epsilon"] for h in history}, reverse=True):
        stage = [h for h in history if h["epsilon"] == epsilon]
        by_epsilon[str(epsilon)] = {
            "networks": len(stage),
            "trained": sum(h["trained"] for h in stage),
            "mean_accuracy": round(statistics.fmean(h["accuracy"] for h in stage), 4),
        }
    return {
        "by_epsilon": by_epsilon,
        "best_accuracy": round(summary["metric_best"], 4),
        "best_net": summary["best_config"]["net"],
        "epochs": summary["trial_iterations_total"],
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

"""Performance prediction: the curve features, the stop rule, and the scheduler on replayed real curves."""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import ROOT, embedded_env, rapid, results_of
from ray.tune.schedulers import AsyncHyperBandScheduler

from rapid.platform.run_dir import read_metrics
from rapid.sweeps.learning_curves import load_curves
from rapid.sweeps.performance_prediction import (
    CurvePredictor,
    PerformancePredictionHyperband,
    PerformancePredictionScheduler,
    curve_features,
)

CURVES = ROOT / "data" / "learning_curves"


def test_curve_features_on_a_known_curve() -> None:
    features = curve_features([0.1, 0.3, 0.4, 0.7])
    values, first, second = [0.1, 0.3, 0.4, 0.7], [0.2, 0.1, 0.3], [-0.1, 0.2]
    summaries = [np.mean(values), np.std(values), np.mean(first), np.std(first), np.mean(second), np.std(second)]
    assert features == pytest.approx(values + first + second + summaries)
    assert curve_features([0.5]) == pytest.approx([0.5, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0])  # no differences yet


def test_bad_options_are_refused_with_their_name() -> None:
    with pytest.raises(ValueError, match="regressor: expected one of nu_svr, random_forest, linear"):
        CurvePredictor(20, regressor="svm")
    with pytest.raises(ValueError, match=r"threshold: expected a probability in \(0, 1\)"):
        CurvePredictor(20, threshold=1.5)


def replay(scheduler, curves, rows) -> dict[int, int]:
    """Feed recorded curves to the scheduler as Tune would (the last result only to on_trial_complete);
    returns the epochs each row ran."""
    ran = {}
    for row in rows:
        trial = SimpleNamespace(trial_id=str(row))
        scheduler.on_trial_add(None, trial)
        for t in range(curves.epochs):
            result = {curves.metric: curves.values[row, t], "training_iteration": t + 1,
                      **{k: v[row] for k, v in curves.features.items()}}  # fmt: skip
            if t == curves.epochs - 1 or scheduler.on_trial_result(None, trial, result) == "STOP":
                break
        scheduler.on_trial_complete(None, trial, result)
        ran[row] = t + 1
    return ran


def test_stops_a_hopeless_recorded_trial_and_keeps_the_best() -> None:
    curves = load_curves(CURVES / "metaqnn_cifar10.csv")
    final = curves.values[:, -1]
    order = np.random.default_rng(0).permutation(len(curves))[:150]
    scheduler = PerformancePredictionScheduler(curves.epochs, min_finished=20, threshold=0.01, features=list(curves.features))
    scheduler.set_search_properties(curves.metric, curves.mode)
    ran = replay(scheduler, curves, order)
    assert all(ran[row] == 20 for row in order[:20])  # nothing stops before enough trials finished
    best = max(order, key=lambda r: final[r])
    worst = min(order[20:], key=lambda r: final[r])
    assert ran[best] == 20 and ran[worst] < 5
    assert sum(ran.values()) < 0.5 * 20 * len(order)
    assert scheduler.stopped_by_prediction == sum(n < 20 for n in ran.values())


def test_a_trial_without_the_features_makes_the_scheduler_predict_from_curves_alone() -> None:
    curves = load_curves(CURVES / "metaqnn_cifar10.csv")
    scheduler = PerformancePredictionScheduler(curves.epochs, min_finished=5, threshold=0.01, features=list(curves.features))
    scheduler.set_search_properties(curves.metric, curves.mode)
    replay(scheduler, curves, range(20))
    assert scheduler.all_features
    worst = int(np.argmin(curves.values[20:, -1])) + 20
    bare = SimpleNamespace(trial_id="bare")  # reports the curve only, no num_params/depth/lr
    decisions = [scheduler.on_trial_result(None, bare, {curves.metric: v, "training_iteration": t + 1})
                 for t, v in enumerate(curves.values[worst, :3])]  # fmt: skip
    assert not scheduler.all_features and "STOP" in decisions


def test_perplexity_curves_are_minimized() -> None:
    curves = load_curves(CURVES / "lstm_ptb.csv")
    order = np.random.default_rng(0).permutation(len(curves))[:60]
    scheduler = PerformancePredictionScheduler(curves.epochs, min_finished=20, threshold=0.01, regressor="linear", features=[])
    scheduler.set_search_properties(curves.metric, curves.mode)
    ran = replay(scheduler, curves, order)
    assert ran[min(order, key=lambda r: curves.values[r, -1])] == curves.epochs
    assert ran[max(order[20:], key=lambda r: curves.values[r, -1])] < curves.epochs


def test_prediction_on_asha_brackets_stops_trials_asha_keeps_and_keeps_the_best() -> None:
    curves = load_curves(CURVES / "metaqnn_cifar10.csv")
    order = np.random.default_rng(1).permutation(len(curves))[:300]
    brackets = {"max_t": curves.epochs, "grace_period": 1, "reduction_factor": 3, "metric": curves.metric, "mode": curves.mode}
    by_asha = replay(AsyncHyperBandScheduler(**brackets), curves, order)
    hybrid = PerformancePredictionHyperband(**brackets, min_finished=5, threshold=0.01, features=list(curves.features))
    by_hybrid = replay(hybrid, curves, order)
    best = max(order, key=lambda r: curves.values[r, -1])
    assert by_asha[best] == by_hybrid[best] == curves.epochs
    assert hybrid.stopped_by_prediction > 0 and sum(by_hybrid.values()) < sum(by_asha.values())
    fifth_finished = [i for i, row in enumerate(order) if by_hybrid[row] == curves.epochs][4]
    assert all(by_hybrid[row] == by_asha[row] for row in order[: fifth_finished + 1])  # ASHA alone until then


def test_replay_sweep_under_the_scheduler_spends_fewer_epochs_and_keeps_the_best(tmp_path: Path) -> None:
    outcome = rapid("run", "jobs/early_stop_replay.yaml", "--profile", "smoke", "--set", f"storage_path={tmp_path}", env=embedded_env())
    assert outcome.returncode == 0, outcome.stderr
    (run,) = results_of(tmp_path, "early_stop_replay")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "finished" and len(summary["trials"]) == 80
    assert summary["trial_iterations_total"] < 80 * 20
    table = read_metrics(run)
    full = {int(r) for r, i in zip(table["row"], table["iteration"], strict=True) if i == 20}
    curves = load_curves(CURVES / "metaqnn_cifar10.csv")
    assert int(np.argmax(curves.values[:80, -1])) in full
    assert summary["best_config"]["row"] == int(np.argmax(curves.values[:80, -1]))


def test_replay_sweep_under_random_search_is_early_stopped(tmp_path: Path) -> None:
    outcome = rapid("run", "jobs/early_stop_replay.yaml", "--profile", "smoke", "--set", f"storage_path={tmp_path}",
                    "--set", "param_space.row={randint: [0, 1000]}", "--set", "num_samples=60",
                    "--set", "scheduler.options.min_finished=10", env=embedded_env())  # fmt: skip
    assert outcome.returncode == 0, outcome.stderr
    (run,) = results_of(tmp_path, "early_stop_replay")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "finished" and len(summary["trials"]) == 60
    iterations = [trial["iterations"] for trial in summary["trials"]]
    assert iterations.count(20) >= 10 and min(iterations) < 20  # FIFO stops nothing: the prediction did


def test_replay_sweep_runs_under_the_hyperband_bracket_with_prediction(tmp_path: Path) -> None:
    # Rungs at 5 and 10 epochs let about a quarter of the 80 networks finish: enough for the predictor.
    outcome = rapid("run", "jobs/early_stop_replay.yaml", "--profile", "smoke", "--set", f"storage_path={tmp_path}",
                    "--set", "scheduler.name=performance_prediction_hyperband", "--set", "scheduler.options.grace_period=5",
                    "--set", "scheduler.options.reduction_factor=2", "--set", "scheduler.options.min_finished=5",
                    env=embedded_env())  # fmt: skip
    assert outcome.returncode == 0, outcome.stderr
    (run,) = results_of(tmp_path, "early_stop_replay")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "finished" and len(summary["trials"]) == 80
    table = read_metrics(run)
    ran: dict[int, int] = {}
    for row, epoch in zip(table["row"], table["iteration"], strict=True):
        ran[int(row)] = max(ran.get(int(row), 0), epoch)
    assert sum(ran.values()) == summary["trial_iterations_total"] < 80 * 20
    assert set(ran.values()) - {5, 10, 20}  # brackets stop only at their rungs: the others are the prediction's


def test_a_missing_curve_file_exits_2(tmp_path: Path) -> None:
    outcome = rapid("run", "jobs/early_stop_replay.yaml", "--profile", "smoke", "--set", f"storage_path={tmp_path}",
                    "--set", "config.curves=nowhere.csv")  # fmt: skip
    assert outcome.returncode == 2
    assert "config.curves: nowhere.csv: no such curve file" in outcome.stderr
    assert not (tmp_path / "early_stop_replay").exists()


def test_replaying_rows_past_the_end_of_the_file_exits_2(tmp_path: Path) -> None:
    outcome = rapid("run", "jobs/early_stop_replay.yaml", "--set", f"storage_path={tmp_path}",
                    "--set", "param_space.row={grid_range: [0, 1001]}")  # fmt: skip
    assert outcome.returncode == 2
    assert "config.row: expected a row number in [0, 1000)" in outcome.stderr and "got 1000" in outcome.stderr

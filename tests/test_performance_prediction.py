"""Performance prediction: the curve features, the stop rule, and the scheduler on replayed real curves."""

import json
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from conftest import ROOT, embedded_env, rapid, results_of
from ray.tune.schedulers import AsyncHyperBandScheduler

from rapid.platform.errors import RapidError
from rapid.platform.run_dir import read_metrics
from rapid.sweeps.learning_curves import load_curves
from rapid.sweeps.performance_prediction import (
    POINTS,
    CurvePredictor,
    PerformancePredictionHyperband,
    PerformancePredictionScheduler,
    curve_features,
    target_link,
)

CURVES = ROOT / "data" / "learning_curves"


def test_curve_features_on_a_known_curve() -> None:
    features = curve_features([0.1, 0.3, 0.4, 0.7], points=4)
    values, first, second = [0.1, 0.3, 0.4, 0.7], [0.2, 0.1, 0.3], [-0.1, 0.2]
    summaries = [np.mean(values), np.std(values), np.mean(first), np.std(first), np.mean(second), np.std(second)]
    assert features == pytest.approx(values + first + second + summaries)
    assert curve_features([0.5], points=3) == pytest.approx([0.5] * 3 + [0.0] * 3 + [0.5] + [0.0] * 5)  # one epoch: flat


def test_feature_width_does_not_grow_past_a_bound_with_the_curve() -> None:
    widths = {t: len(curve_features(np.linspace(0, 1, t))) for t in (1, 5, POINTS, 20, 300, 1000)}
    assert widths[1] < widths[5] < widths[POINTS] == widths[20] == widths[300] == widths[1000] == 3 * POINTS + 3


def test_bad_options_are_refused_with_their_name() -> None:
    with pytest.raises(ValueError, match="regressor: expected one of nu_svr, random_forest, linear, auto"):
        CurvePredictor(20, regressor="svm")
    with pytest.raises(ValueError, match=r"threshold: expected a probability in \(0, 1\)"):
        CurvePredictor(20, threshold=1.5)
    with pytest.raises(ValueError, match="link: expected one of logit, log, identity, auto, got 'probit'"):
        CurvePredictor(20, link="probit")
    assert [target_link("auto", np.array(f)) for f in ([0.1, 0.9], [80.0, 300.0], [-1.0, 2.0])] == ["logit", "log", "identity"]
    with pytest.raises(ValueError, match="min_finished: expected at least 5 .*regressor: auto compares"):
        CurvePredictor(20, regressor="auto", min_finished=3)


def fitted(curves: np.ndarray, regressor: str, prior=(), link: str = "identity") -> CurvePredictor:
    predictor = CurvePredictor(curves.shape[1], regressor, min_finished=20, prior=prior, link=link)
    for curve in curves:
        predictor.add_finished(curve, [])
    return predictor


@pytest.mark.parametrize("regressor, link", [("nu_svr", "identity"), ("random_forest", "identity"), ("linear", "auto"), ("auto", "log")])
def test_predictions_stay_within_the_finals_seen(regressor: str, link: str) -> None:
    curves = load_curves(CURVES / "lstm_ptb.csv").values[:60]
    predictor = fitted(curves, regressor, link=link)
    finals = curves[:, -1]
    for start in (curves[:, :15].min() / 10, curves[:, :15].max() * 10):  # far outside anything seen
        assert finals.min() <= predictor.predict(np.full(15, start), [])[0] <= finals.max()


def test_auto_picks_the_regressor_that_fits_the_family() -> None:
    """Finals linear in the curve: the linear model wins; a step in the curve's start: the forest."""
    rng = np.random.default_rng(0)
    start, slope = rng.uniform(-1.0, 1.0, 60), rng.uniform(0.0, 0.01, 60)
    curves = start[:, None] + slope[:, None] * np.arange(20)[None]
    for finals, expected in ((0.5 * curves[:, 4] + 20 * slope, "linear"), (np.where(start > 0, 0.9, 0.2), "random_forest")):
        family = np.concatenate([curves[:, :-1], finals[:, None]], axis=1)
        predictor = fitted(family, "auto")
        predictor.predict(family[0, :5], [])
        assert predictor.picked == {5: expected}


def test_a_prior_predicts_before_the_sweep_has_finished_trials_and_is_refined_by_them(tmp_path: Path) -> None:
    """A prior family that ends at 0.2 whatever its start, a sweep whose networks end at 0.9."""
    rng = np.random.default_rng(0)
    prior_curves = rng.uniform(0.3, 0.5, (40, 10)) * np.linspace(1, 0.5, 10)[None]  # 10 epochs: another length
    prior_curves[:, -1] = 0.2
    prior_file = tmp_path / "prior.csv"
    columns = {"lr": rng.uniform(0, 1, 40), **{f"acc_{e + 1}": prior_curves[:, e] for e in range(10)}}
    pacsv.write_csv(pa.table(columns), prior_file)
    own = rng.uniform(0.3, 0.5, (25, 20))
    own[:, -1] = 0.9
    predictor = fitted(own[:1], "nu_svr", prior=[load_curves(prior_file)])
    assert predictor.ready()  # one own network finished: the prior's 40 carry the fit
    before = predictor.predict(own[1, :5], [])[0]
    for curve in own[1:]:
        predictor.add_finished(curve, [])
    after = predictor.predict(own[1, :5], [])[0]
    assert before < (0.2 + 0.9) / 2 < 0.8 < after  # nearer the prior's finals, then its own


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


def replay_sweep(tmp_path: Path, profile: str, *overrides: str) -> tuple[Path, dict]:
    """`rapid run jobs/early_stop_replay.yaml --profile P --set ...` on embedded Ray: its run folder and summary."""
    sets = [arg for override in (f"storage_path={tmp_path}", *overrides) for arg in ("--set", override)]
    outcome = rapid("run", "jobs/early_stop_replay.yaml", "--profile", profile, *sets, env=embedded_env())
    assert outcome.returncode == 0, outcome.stderr
    (run,) = results_of(tmp_path, "early_stop_replay")
    return run, json.loads((run / "summary.json").read_text())


def test_replay_sweep_under_the_scheduler_spends_fewer_epochs_and_keeps_the_best(tmp_path: Path) -> None:
    started = time.time()
    run, summary = replay_sweep(tmp_path, "smoke")
    took = time.time() - started
    assert summary["status"] == "finished" and len(summary["trials"]) == 80
    assert summary["trial_iterations_total"] < 80 * 20
    table = read_metrics(run)
    full = {int(r) for r, i in zip(table["row"], table["iteration"], strict=True) if i == 20}
    curves = load_curves(CURVES / "metaqnn_cifar10.csv")
    assert int(np.argmax(curves.values[:80, -1])) in full
    assert summary["best_config"]["row"] == int(np.argmax(curves.values[:80, -1]))
    trial_times = {}  # each trial's own seconds
    for trial, seconds in zip(table["trial_id"], table["wall_time_s"], strict=True):
        trial_times[trial] = max(trial_times.get(trial, 0.0), seconds)
    assert max(trial_times.values()) < summary["wall_time_s"] < took  # the sweep's wall time, not one trial's
    assert summary["wall_time_s"] >= sum(trial_times.values()) / 2  # two trials at a time


@pytest.mark.slow  # 25-58 s in CI, which ran 26 min with it; the file-order replay sweep covers the same scheduler
def test_replay_sweep_under_random_search_is_early_stopped(tmp_path: Path) -> None:
    _, summary = replay_sweep(tmp_path, "smoke", "param_space.row={randint: [0, 1000]}", "num_samples=60",
                              "scheduler.options.min_finished=10")  # fmt: skip
    assert summary["status"] == "finished" and len(summary["trials"]) == 60
    iterations = [trial["iterations"] for trial in summary["trials"]]
    assert iterations.count(20) >= 10 and min(iterations) < 20  # FIFO stops nothing: the prediction did


def test_replay_sweep_runs_under_the_hyperband_bracket_with_prediction(tmp_path: Path) -> None:
    # Rungs at 5 and 10 epochs let about a quarter of the 80 networks finish: enough for the predictor.
    run, summary = replay_sweep(tmp_path, "smoke", "scheduler.name=performance_prediction_hyperband",
                                "scheduler.options.grace_period=5", "scheduler.options.reduction_factor=2",
                                "scheduler.options.min_finished=5")  # fmt: skip
    assert summary["status"] == "finished" and len(summary["trials"]) == 80
    table = read_metrics(run)
    ran: dict[int, int] = {}
    for row, epoch in zip(table["row"], table["iteration"], strict=True):
        ran[int(row)] = max(ran.get(int(row), 0), epoch)
    assert sum(ran.values()) == summary["trial_iterations_total"] < 80 * 20
    assert set(ran.values()) - {5, 10, 20}  # brackets stop only at their rungs: the others are the prediction's


def test_long_curve_replay_sweep_predicts_at_its_check_epochs(tmp_path: Path) -> None:
    """100-epoch curves, half diverged: the prediction judges after epoch 1 and every 5th only."""
    _, summary = replay_sweep(tmp_path, "digits_long", "param_space.row={grid_range: [0, 30]}",
                              "scheduler.options.min_finished=10", "scheduler.options.regressor=auto")  # fmt: skip
    assert summary["status"] == "finished" and len(summary["trials"]) == 30
    iterations = [trial["iterations"] for trial in summary["trials"]]
    assert iterations.count(100) >= 10 and min(iterations) < 100
    assert all(n == 1 or n % 5 == 0 for n in iterations)


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


def write_csv(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_a_prior_of_another_metric_exits_2_before_ray(tmp_path: Path) -> None:
    outcome = rapid("run", "jobs/early_stop_replay.yaml", "--profile", "smoke", "--set", f"storage_path={tmp_path}",
                    "--set", "scheduler.options.prior=data/learning_curves/lstm_ptb.csv")  # fmt: skip
    assert outcome.returncode == 2
    assert ("scheduler.options.prior: data/learning_curves/lstm_ptb.csv records val_perplexity (min), "
            "but the sweep's metric is val_accuracy (max)") in outcome.stderr  # fmt: skip
    assert not (tmp_path / "early_stop_replay").exists()


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["scheduler.options.regressor=auto", "scheduler.options.min_finished=3"],
         "min_finished: expected at least 5 (the cross-validation folds that regressor: auto compares its regressors on), got 3"),
        (["config.curves={ragged}"], "config.curves: {ragged}: column acc_2: row 2 has no value (ragged curves"),
        (["scheduler.options.prior={text}"], "scheduler.options.prior: {text}: column acc_2: row 2: expected a number, got 'abc'"),
    ],
)  # fmt: skip
def test_a_bad_regressor_or_curve_file_is_refused_before_ray(tmp_path: Path, overrides: list[str], message: str) -> None:
    """The checks `rapid run` makes before Ray starts (the exit status 2 is the test above's)."""
    from rapid.platform.preflight import preflight
    from rapid.platform.spec_file import load_spec

    files = {
        "ragged": write_csv(tmp_path / "ragged.csv", "lr,acc_1,acc_2\n0.1,0.5,0.6\n0.2,0.4,\n"),
        "text": write_csv(tmp_path / "text.csv", "lr,acc_1,acc_2\n0.1,0.5,0.6\n0.2,0.4,abc\n"),
    }
    spec = ROOT / "jobs" / "early_stop_replay.yaml"
    with pytest.raises(RapidError) as caught:
        preflight(load_spec(spec, "smoke", [o.format(**files) for o in overrides]).job, spec)
    assert message.format(**files) in str(caught.value)

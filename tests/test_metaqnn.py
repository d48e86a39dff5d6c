"""MetaQNN: the state space's rules, the Q-learning arithmetic, the searcher's memory, the CNN
builder and the dataset readers; then a real sweep on digits, killed and resumed."""

import gzip
import json
import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pytest
import scipy.io
from conftest import ROOT, embedded_env, rapid, results_of, wait_until
from ray.tune.experiment import Trial

from rapid.platform.run_dir import read_metrics
from rapid.sweeps.cnn import build_cnn, dropout_rates, parameter_count
from rapid.sweeps.cnn_trainable import CNNTrainable
from rapid.sweeps.image_datasets import load_dataset, missing_files, validation_split
from rapid.sweeps.learning_curves import load_curves
from rapid.sweeps.metaqnn_searcher import MetaQNNSearcher, net_key
from rapid.sweeps.metaqnn_space import Layer, Rules, StateSpace, parse_layer

CURVES = ROOT / "data" / "learning_curves"


def rules(size: int = 32, **space: object) -> Rules:
    return Rules(StateSpace(**space), size, 10)


def after(r: Rules, *net: str):
    state = r.start()
    for text in net:
        state = r.step(state, parse_layer(text))
    return state


def kinds(actions: list[Layer]) -> set[str]:
    return {a.kind for a in actions}


def test_each_forbidden_move_is_masked() -> None:
    r = rules()
    assert kinds(r.actions(r.start())) == {"C", "FC", "GAP", "SM"} - {"FC"}  # no pooling first; 32x32 is too big for FC
    assert "P" not in kinds(r.actions(after(r, "C(64,3,1)", "P(2,2)")))  # no pooling after pooling
    assert "P" in kinds(r.actions(after(r, "C(64,3,1)")))
    # Fully connected only on a 4x4 representation or smaller: 32 -> 16 -> 8 -> 4.
    assert "FC" not in kinds(r.actions(after(r, "C(64,3,1)", "P(2,2)", "C(64,3,1)", "P(2,2)")))
    small = after(r, "C(64,3,1)", "P(2,2)", "C(64,3,1)", "P(2,2)", "C(64,3,1)", "P(2,2)")
    assert small.size == 4 and "FC" in kinds(r.actions(small))
    # After FC: only narrower-or-equal FC, at most two in a row, and SM (no GAP, no conv).
    fc = after(r, "C(64,3,1)", "P(2,2)", "C(64,3,1)", "P(2,2)", "C(64,3,1)", "P(2,2)", "FC(256)")
    assert set(map(str, r.actions(fc))) == {"FC(256)", "FC(128)", "SM(10)"}
    assert set(map(str, r.actions(r.step(fc, parse_layer("FC(128)"))))) == {"SM(10)"}
    # A receptive field never larger than the representation: on 2x2 only 1x1 convolutions and 2x2 pools.
    tiny = rules(size=2)
    assert {a.params[1] for a in tiny.actions(tiny.start()) if a.kind == "C"} == {1}
    assert {a.params for a in tiny.actions(after(tiny, "C(64,1,1)")) if a.kind == "P"} == {(2, 2)}
    # max_fc = 0: no fully connected layer at all.
    no_fc = rules(max_fc=0)
    assert "FC" not in kinds(no_fc.actions(after(no_fc, "C(64,3,1)", "P(2,2)", "C(64,3,1)", "P(2,2)", "C(64,3,1)", "P(2,2)")))
    # At maximum depth only a terminal layer.
    shallow = rules(max_depth=2)
    assert kinds(shallow.actions(after(shallow, "C(64,3,1)", "C(64,3,1)"))) == {"GAP", "SM"}


def test_a_hand_written_net_is_checked_with_the_same_rules() -> None:
    r = rules()
    with pytest.raises(ValueError, match=r"net\[0\] P\(2,2\): pooling cannot come first"):
        r.trajectory(["P(2,2)", "SM(10)"])
    with pytest.raises(ValueError, match=r"net\[1\] FC\(512\): fully connected layers need a 4x4"):
        r.trajectory(["C(64,3,1)", "FC(512)", "SM(10)"])
    with pytest.raises(ValueError, match=r"net\[2\] C\(64,3,1\): the network already has max_depth=2"):
        rules(max_depth=2).trajectory(["C(64,3,1)", "C(64,3,1)", "C(64,3,1)", "SM(10)"])
    with pytest.raises(ValueError, match=r"net\[0\] C\(64,2,1\): convolutions have stride 1 and an odd receptive field"):
        r.trajectory(["C(64,2,1)", "SM(10)"])
    with pytest.raises(ValueError, match="must end with SM"):
        r.trajectory(["C(64,3,1)"])
    with pytest.raises(ValueError, match="is not a layer"):
        r.trajectory(["D(1,2)", "SM(10)"])
    steps = r.trajectory(["C(64,3,1)", "GAP(10)", "SM(10)"])
    assert [str(a) for _, a in steps] == ["C(64,3,1)", "GAP(10)"]


def searcher(**options: object) -> MetaQNNSearcher:
    s = MetaQNNSearcher(metric="val_accuracy", mode="max", **options)
    s.set_search_properties("val_accuracy", "max", {"dataset": "cifar10"})
    return s


def test_q_update_matches_a_hand_worked_example_in_reverse_order() -> None:
    s = searcher()
    s.update(["C(64,3,1)", "SM(10)"], 0.8)
    start, conv = s.rules.start(), after(s.rules, "C(64,3,1)")
    # Terminal transition first: 0.99 * 0.5 + 0.01 * 0.8 = 0.503.
    assert s.q[s.rules.key(conv)]["SM(10)"] == pytest.approx(0.503)
    # Then the first one, which already sees it: 0.99 * 0.5 + 0.01 * max(0.503, 0.5, ...) = 0.50003.
    # (Forward order would give 0.99 * 0.5 + 0.01 * 0.5 = 0.5.)
    assert s.q[s.rules.key(start)]["C(64,3,1)"] == pytest.approx(0.50003)


def test_each_scored_network_joins_the_memory_and_is_replayed_replay_samples_times() -> None:
    s = searcher(epsilon_schedule=[[1.0, 1]], replay_samples=7)
    config = s.suggest("0")
    s.on_trial_complete("0", {"val_accuracy": 0.8})
    state, action = s.rules.trajectory(config["net"])[-1]
    # As in the paper, a scored network joins the memory and is learned only through replay. Memory
    # holds only this network, so each of the 7 replays updates it: 7 times Q <- 0.99 Q + 0.01 * 0.8.
    assert s.q[s.rules.key(state)][str(action)] == pytest.approx(0.5 * 0.99**7 + 0.8 * (1 - 0.99**7))


def test_replay_after_each_scored_network_and_no_network_is_trained_twice() -> None:
    s = searcher(epsilon_schedule=[[1.0, 40]], replay_samples=7, space={"max_depth": 1, "conv_filters": [64], "conv_fields": [1]})
    # max_depth 1 leaves 4 networks: SM, GAP+SM, C+SM, C+GAP+SM (C(64,1,1) only), so repeats are certain.
    trained = []
    for i in range(40):
        config = s.suggest(str(i))
        if config == s.FINISHED:
            break
        if config is not None:
            trained.append(tuple(config["net"]))
            s.on_trial_complete(str(i), {"val_accuracy": 0.1 * len(config["net"])})
    assert len(trained) == len(set(trained)) == 4
    assert s.sampled == 40 and len(s.history) == 40 and len(s.memory) == 40
    assert sum(h["trained"] for h in s.history) == 4
    repeat = next(h for h in s.history if not h["trained"])
    assert repeat["accuracy"] == pytest.approx(0.1 * len(repeat["net"]))  # the stored accuracy, reused


def test_greedy_choice_follows_the_q_table() -> None:
    s = searcher(epsilon_schedule=[[0.0, 1]])
    s.q[s.rules.key(s.rules.start())] = {"C(128,5,1)": 0.9}
    s.q[s.rules.key(after(s.rules, "C(128,5,1)"))] = {"GAP(10)": 0.95}
    assert s.suggest("t") == {"net": ["C(128,5,1)", "GAP(10)", "SM(10)"], "epsilon": 0.0}


def test_searcher_state_round_trips_through_save_and_restore(tmp_path: Path) -> None:
    s = searcher(epsilon_schedule=[[1.0, 6]])
    for i in range(3):
        s.suggest(str(i))
        s.on_trial_complete(str(i), {"val_accuracy": 0.5 + i / 10})
    s.suggest("pending")
    s.save(str(tmp_path / "state.pkl"))
    restored = searcher(epsilon_schedule=[[1.0, 6]])
    restored.restore(str(tmp_path / "state.pkl"))
    assert restored.q == s.q and restored.memory == s.memory and restored.scores == s.scores
    assert restored.sampled == s.sampled and restored.running == s.running
    assert restored.sample_net(1.0) == s.sample_net(1.0)  # the exploration's random state too


def tune_trial(trial_id: str, net: list[str], status: str, *accuracies: float) -> Trial:
    """A trial as Tune's experiment state records it: config, status and the metric's history."""
    trial = Trial("CNNTrainable", config={"net": net, "epsilon": 1.0}, trial_id=trial_id, stub=True)
    trial.create_placement_group_factory()
    for accuracy in accuracies:
        trial.update_last_result({"val_accuracy": accuracy})
    trial.set_status(status)
    return trial


def resume(folder: Path, saved: MetaQNNSearcher, trials: list[Trial]) -> MetaQNNSearcher:
    """What `rapid run --resume` restores after a SIGKILL left the searcher's state `saved` and Tune's
    experiment state `trials` in the run folder (an older experiment state beside them, as after an
    earlier resume)."""
    (folder / "experiment_state-2026-01-01_00-00-00.json").write_text(json.dumps({"trial_data": []}))
    (folder / "experiment_state-2026-01-01_00-00-09.json").write_text(json.dumps({"trial_data": [t.get_json_state() for t in trials]}))
    saved.save(str(folder / "searcher-state-2026-01-01_00-00-09.pkl"))
    restored = searcher(epsilon_schedule=[[1.0, 6]])
    restored.restore_from_dir(str(folder))
    return restored


def finish(s: MetaQNNSearcher, resumed: list[str]) -> list[list[str]]:
    """Tune after a resume: it reruns the `resumed` trials and asks for new ones until the searcher
    finishes; every trial reports 0.5. The networks the new trials trained."""
    for trial_id in resumed:
        s.on_trial_complete(trial_id, {"val_accuracy": 0.5})
    trained = []
    while (config := s.suggest(f"new{len(trained)}")) != s.FINISHED:
        trained.append(config["net"])
        s.on_trial_complete(f"new{len(trained) - 1}", {"val_accuracy": 0.5})
    return trained


def trained_once(s: MetaQNNSearcher) -> list[str]:
    """The searcher sampled its whole budget and every sampled network was trained exactly once."""
    trained = [net_key(h["net"]) for h in s.history if h["trained"]]
    assert s.sampled == len(s.history) == 6 and not s.running and not s.requeued and not s.live
    assert len(trained) == len(set(trained)) and {net_key(h["net"]) for h in s.history} == set(trained)
    return trained


def test_resume_requeues_what_tune_lost_when_the_searchers_state_is_ahead(tmp_path: Path) -> None:
    s = searcher(epsilon_schedule=[[1.0, 6]])
    s.set_max_concurrency(2)
    a, b = s.suggest("a")["net"], s.suggest("b")["net"]
    s.on_trial_complete("a", {"val_accuracy": 0.6})
    c = s.suggest("c")["net"]
    s.on_trial_complete("b", {"val_accuracy": 0.7})
    # Tune's state is older: b still running, and c never recorded.
    restored = resume(tmp_path, s, [tune_trial("a", a, Trial.TERMINATED, 0.6), tune_trial("b", b, Trial.RUNNING, 0.4)])
    assert restored.sampled == 3 and restored.live == {"b"} and restored.requeued == [(c, 1.0)]
    assert restored.suggest("d") == {"net": c, "epsilon": 1.0} and restored.sampled == 3  # suggested again, not resampled
    assert restored.suggest("e") is None  # b and d run: max_concurrent_trials reached
    restored.on_trial_complete("d", {"val_accuracy": 0.8})
    new = finish(restored, ["b"])  # Tune reruns b: already scored, it is not learned twice
    assert restored.scores[net_key(b)] == 0.7 and restored.scores[net_key(c)] == 0.8
    assert sorted(trained_once(restored)) == sorted(map(net_key, [a, b, c, *new]))


def test_resume_counts_what_tune_recorded_when_the_searchers_state_is_behind(tmp_path: Path) -> None:
    s = searcher(epsilon_schedule=[[1.0, 6]])
    s.set_max_concurrency(2)
    a = s.suggest("a")["net"]
    saved = pickle.loads(pickle.dumps(s))  # the searcher's state, saved here
    b = s.suggest("b")["net"]
    s.on_trial_complete("a", {"val_accuracy": 0.6})
    c = s.suggest("c")["net"]
    # Tune's state is newer: a and b finished (Tune will not report them again), c running.
    trials = [tune_trial("a", a, Trial.TERMINATED, 0.6, 0.5), tune_trial("b", b, Trial.TERMINATED, 0.7), tune_trial("c", c, Trial.RUNNING)]
    restored = resume(tmp_path, saved, trials)
    assert restored.sampled == 3 and restored.live == {"c"} and restored.running == {"c": (c, 1.0)}
    assert restored.scores == {net_key(a): 0.6, net_key(b): 0.7}  # learned from Tune's records
    new = finish(restored, ["c"])
    assert sorted(trained_once(restored)) == sorted(map(net_key, [a, b, c, *new]))


def test_cnn_builder_parameter_count_of_a_hand_checked_net() -> None:
    model = build_cnn(["C(64,3,1)", "P(2,2)", "FC(128)", "SM(10)"], (1, 8, 8))
    # conv 1*64*9 + 64 = 640; pool 8 -> 4; FC 64*4*4*128 + 128 = 131,200; SM 128*10 + 10 = 1,290.
    assert parameter_count(model) == 640 + 131_200 + 1_290
    assert dropout_rates(6) == [1 / 6, 2 / 6, 3 / 6]  # the i-th of n drops i / (2n)


def test_cnn_builder_matches_recorded_metaqnn_networks() -> None:
    """The recorded CIFAR-10 networks list their dropout and count weights without biases. Those
    ending in GAP (297 of 1,000) are checked: the others' counts of the flattened classifier input
    follow a convention the recording does not state."""
    table = pacsv.read_csv(CURVES / "metaqnn_cifar10.csv").to_pydict()
    recorded_nets = [(t, n) for t, n in zip(table["net"], table["num_params"], strict=True) if "GAP" in t]
    assert len(recorded_nets) == 297
    for text, recorded in recorded_nets:
        layers = text.strip("[]").split(", ")
        net = [t for t in layers if not t.startswith("D(")]
        model = build_cnn(net, (3, 32, 32))
        weights = sum(p.numel() for name, p in model.named_parameters() if name.endswith("weight"))
        assert weights == recorded, text
        rates = [m.p for m in model if m.__class__.__name__ == "Dropout"]
        assert len(rates) == sum(t.startswith("D(") for t in layers), text


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def test_dataset_readers_on_files_in_the_standard_formats(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (20, 28, 28)), np.arange(20) % 10
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels)
    mnist = load_dataset("mnist", str(tmp_path))
    assert mnist.images.shape == (20, 1, 28, 28) and np.allclose(mnist.images[3, 0] * 255, images[3])
    assert list(mnist.labels) == list(labels)

    cifar = tmp_path / "cifar-10-batches-py"
    cifar.mkdir()
    pixels = rng.integers(0, 256, (5, 4, 3072), dtype=np.uint8)
    for i in range(5):
        batch = {b"data": pixels[i], b"labels": [i, i, i, 9]}
        (cifar / f"data_batch_{i + 1}").write_bytes(pickle.dumps(batch))
    data = load_dataset("cifar10", str(tmp_path))
    assert data.images.shape == (20, 3, 32, 32) and data.labels[4] == 1
    assert np.allclose(data.images[5, 1, 0, :3] * 255, pixels[1, 1, 1024:1027])  # row-major channel planes

    x = rng.integers(0, 256, (32, 32, 3, 6), dtype=np.uint8)
    scipy.io.savemat(tmp_path / "train_32x32.mat", {"X": x, "y": np.array([[10], [1], [2], [3], [4], [5]])})
    svhn = load_dataset("svhn", str(tmp_path))
    assert svhn.images.shape == (6, 3, 32, 32) and svhn.labels[0] == 0  # label 10 is digit 0
    assert np.allclose(svhn.images[2, :, 4, 7] * 255, x[4, 7, :, 2])

    assert missing_files("mnist", str(tmp_path / "nothing")) == ["images", "labels"]
    with pytest.raises(ValueError, match="no data_batch_1"):
        load_dataset("cifar10", str(tmp_path / "nothing"))


def test_cnn_learning_rate_steps_down_and_resumes_on_its_step(tmp_path: Path) -> None:
    """lr_decay every lr_decay_every epochs (torch's StepLR), carried through a checkpoint."""
    config = {"net": ["C(8,3,1)", "P(2,2)", "SM(10)"], "lr": 0.01, "lr_decay": 0.5, "lr_decay_every": 2, "max_restarts": 0}
    trial = CNNTrainable(config=config)
    rates = []
    for _ in range(3):
        trial.step()
        rates.append(trial.optimizer.param_groups[0]["lr"])
    trial.save_checkpoint(str(tmp_path))
    resumed = CNNTrainable(config=config)
    resumed.load_checkpoint(str(tmp_path))
    resumed.step()
    rates.append(resumed.optimizer.param_groups[0]["lr"])
    assert rates == pytest.approx([0.01, 0.005, 0.005, 0.0025])


def test_validation_split_is_class_balanced_and_fixed() -> None:
    labels = np.repeat(np.arange(10), 30)
    train, validation = validation_split(labels, 50, 10)
    assert np.bincount(labels[validation]).tolist() == [5] * 10
    assert not set(train) & set(validation) and len(train) + len(validation) == 300
    assert np.array_equal(validation, validation_split(labels, 50, 10)[1])


def test_bad_metaqnn_specs_exit_2_before_anything_runs(tmp_path: Path) -> None:
    storage = tmp_path / "results"
    cases = [
        (["--set", "num_samples=4"], "search.options.epsilon_schedule: its stages sample 3 networks, but num_samples is 4"),
        (["--set", "search.options.epsilon_schedule=[[1.5, 3]]"], "search.options.epsilon_schedule.0.0"),
        (["--set", "search={name: basic_variant}", "--set", "group_by=null", "--set", 'param_space={net: {choice: [["P(2,2)", "SM(10)"]]}}'],
         "config.net: net[0] P(2,2): pooling cannot come first"),
        (["--set", "search={name: basic_variant}", "--set", "group_by=null", "--set", 'config.net=["C(16,3,1)", "FC(128)", "SM(10)"]'],
         "config.net: net[1] FC(128): fully connected layers need a 4x4 representation or smaller, not 8x8"),
        (["--set", "search={name: basic_variant}", "--set", "group_by=null", "--set", f"config.net={json.dumps(['C(16,1,1)'] * 19 + ['SM(10)'])}"],
         "net[18] C(16,1,1): the network already has max_depth=18 layers"),
        (["--set", "search={name: basic_variant}", "--set", "group_by=null", "--set", "config.net=[P(2,2), SM(10)]"],
         "config.net: 'P(2' is not a layer; expected C(filters,field,stride)"),
        (["--set", "config.dataset=svhn", "--set", f"config.data_dir={tmp_path}"],
         f"config.data_dir: dataset svhn needs train_32x32.mat in '{tmp_path}'"),
    ]
    for overrides, message in cases:
        outcome = rapid("run", "jobs/metaqnn_digits.yaml", "--profile", "smoke", "--set", f"storage_path={storage}", *overrides)
        assert outcome.returncode == 2, (overrides, outcome.stderr)
        assert message in outcome.stderr, (overrides, outcome.stderr)
    assert not storage.exists()


def test_a_tiny_metaqnn_digits_sweep_runs_three_trials_and_reports_by_epsilon(tmp_path: Path) -> None:
    outcome = rapid("run", "jobs/metaqnn_digits.yaml", "--profile", "smoke", "--set", f"storage_path={tmp_path}", env=embedded_env())
    assert outcome.returncode == 0, outcome.stderr
    (run,) = results_of(tmp_path, "metaqnn_digits")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "finished" and len(summary["trials"]) == 3
    assert summary["trial_iterations_total"] == 6  # 3 networks x 2 epochs
    assert set(summary["groups"]) == {"epsilon=1.0", "epsilon=0.5"}
    Rules(StateSpace(max_depth=8), 8, 10).trajectory(summary["best_config"]["net"])
    assert 0.1 < summary["metric_best"] <= 1.0
    table = read_metrics(run)
    assert {"val_accuracy", "num_params", "depth", "lr", "restarts"} <= set(table)
    assert (run / "plots" / "val_accuracy_by_epsilon.png").is_file()
    report = json.loads((run / "metaqnn_report.json").read_text())  # the searcher's, repeats included
    assert report["networks_sampled"] == sum(stage["networks"] for stage in report["by_epsilon"].values()) == 3
    assert set(report["by_epsilon"]) == {"1.0", "0.5"}
    assert report["best_accuracy"] == pytest.approx(summary["metric_best"]) and report["best_net"] == summary["best_config"]["net"]


@pytest.mark.slow  # 1.1 min in CI; the scheduler's replay sweep (test_performance_prediction) stays
def test_metaqnn_runs_under_the_performance_prediction_scheduler(tmp_path: Path) -> None:
    outcome = rapid("run", "jobs/metaqnn_with_prediction.yaml", "--profile", "smoke", "--set", f"storage_path={tmp_path}",
                    env=embedded_env())  # fmt: skip
    assert outcome.returncode == 0, outcome.stderr
    (run,) = results_of(tmp_path, "metaqnn_with_prediction")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "finished" and not summary["errors"]
    report = json.loads((run / "metaqnn_report.json").read_text())
    assert report["networks_sampled"] == 8 and report["networks_trained"] == len(summary["trials"])


def trial_nets(run: Path) -> dict[str, str]:
    """Trial id -> the network it trained, for every trial that started in the run folder."""
    params = {folder.name.removeprefix("trial_"): folder / "params.json" for folder in run.glob("trial_*")}
    return {trial_id: net_key(json.loads(path.read_text())["net"]) for trial_id, path in params.items() if path.is_file()}


@pytest.mark.slow  # 1.5 min in CI; the searcher's save/restore and requeue tests stay
def test_a_killed_metaqnn_sweep_resumes_and_trains_each_network_of_its_budget_once(tmp_path: Path) -> None:
    """SIGKILL the driver mid-search; `rapid run --resume` goes on from the searcher's saved state,
    reconciled with Tune's (either may be the newer one): no network is trained twice or lost."""
    args = [sys.executable, "-m", "rapid", "run", "jobs/metaqnn_digits.yaml", "--profile", "smoke",
            "--set", f"storage_path={tmp_path}", "--set", "num_samples=8",
            "--set", "search.options.epsilon_schedule=[[1.0, 8]]", "--set", "stop.iterations=3"]  # fmt: skip
    process = subprocess.Popen(args, cwd=ROOT, env=embedded_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)

    def three_scored() -> dict | None:
        runs = results_of(tmp_path, "metaqnn_digits") if (tmp_path / "metaqnn_digits").exists() else []
        states = sorted(runs[0].glob("searcher-state-*.pkl")) if runs else []
        try:
            saved = pickle.loads(states[-1].read_bytes()) if states else None
        except (EOFError, pickle.UnpicklingError):
            saved = None  # caught while Tune copies it into the run folder: read it at the next poll
        return saved if saved is not None and len(saved["scores"]) >= 3 else None

    state = wait_until(three_scored, "the searcher saved no state with 3 scored networks", 240, process)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    (run,) = results_of(tmp_path, "metaqnn_digits")
    assert not (run / "summary.json").exists()
    outcome = rapid("run", "--resume", str(run), env=embedded_env())
    assert outcome.returncode == 0, outcome.stderr
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "finished"
    final = pickle.loads(sorted(run.glob("searcher-state-*.pkl"))[-1].read_bytes())
    history = final["history"]
    trained = [net_key(h["net"]) for h in history if h["trained"]]
    assert final["sampled"] == len(history) == 8, "the whole budget was sampled"
    assert len(trained) == len(set(trained)), "no network was trained twice"
    assert {net_key(h["net"]) for h in history} == set(trained) and not final["running"], "every sampled network was trained"
    for key, accuracy in state["scores"].items():  # what was learned before the kill is still there
        assert final["scores"][key] == accuracy
    assert {net_key(net) for net, _ in state["running"].values()} <= set(final["scores"]), "what ran at the kill was scored"
    # Tune's side: one trial per network, each trained to the stop and scored by the searcher. A
    # network the searcher scored from a trial that Tune's state lost was trained by that trial.
    nets = trial_nets(run)
    tune_nets = [nets[trial["trial_id"]] for trial in summary["trials"]]
    assert len(tune_nets) == len(set(tune_nets)) and all(trial["iterations"] == 3 for trial in summary["trials"])
    assert set(tune_nets) <= set(trained) <= set(nets.values())


def test_recorded_curves_load_with_their_features() -> None:
    metaqnn = load_curves(CURVES / "metaqnn_cifar10.csv")
    assert metaqnn.values.shape == (1000, 20) and set(metaqnn.features) == {"num_params", "depth", "lr"}
    assert (metaqnn.metric, metaqnn.mode) == ("val_accuracy", "max")
    lstm = load_curves(CURVES / "lstm_ptb.csv")
    assert lstm.values.shape == (280, 60) and (lstm.metric, lstm.mode) == ("val_perplexity", "min")

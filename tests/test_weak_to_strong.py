"""Weak-to-strong on the LM ladder: the ladder's models and tokenizer, the tasks' splits, the weak
labels, the losses, PGR, the cache, and the study pipeline end to end (with resume and errors)."""

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import Head, killed_smoke_pipeline, rapid, step_after_restore
from transformers import AutoModelForCausalLM, AutoTokenizer

from rapid.platform.errors import RapidError
from rapid.platform.run_dir import RunDir
from rapid.platform.spec_file import load_spec
from rapid.sweeps.llm.classifier import LastTokenClassifier, encode, fit, one_hot, predict
from rapid.sweeps.llm.config import ModelRef, W2SConfig
from rapid.sweeps.llm.ladder import build_lm, load_lm, save_lm
from rapid.sweeps.llm.losses import logconf, make_loss, xent
from rapid.sweeps.llm.pretrain import PretrainTrainable
from rapid.sweeps.llm.report import w2s_report
from rapid.sweeps.llm.tasks import halves, load_task
from rapid.sweeps.llm.w2s import Study, pgr

TINY_PRETRAIN = {"tokens": 2048, "tokens_per_iteration": 1024, "batch_size": 4, "block": 64}
TINY_TASK = {"train_size": 24, "test_size": 8, "epochs": 1, "batch_size": 4}


def test_a_ladder_model_and_its_tokenizer_round_trip_through_hugging_face_folders(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_lm("xs")
    save_lm(model, tmp_path / "xs", {"settings": {}})
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "xs")
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "xs")
    text = "657-233+12=436\ncmp 4821 4812:>"
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    assert ids.shape[1] == len(text) and tokenizer.decode(ids[0]) == text  # one token per character
    with torch.no_grad():
        assert torch.equal(model(ids).logits, loaded(ids).logits)
    assert not any(name.startswith(".") for name in os.listdir(tmp_path))  # written whole, no staging left


def test_pretraining_resumes_on_the_same_blocks_and_reuses_a_cached_model(tmp_path: Path) -> None:
    config = {"size": "xs", "cache": str(tmp_path), **TINY_PRETRAIN}
    going_on, again = step_after_restore(PretrainTrainable, config, tmp_path / "checkpoint")
    assert going_on["done"] and again["done"] and again["lm_loss"] == pytest.approx(going_on["lm_loss"], rel=1e-5)
    model, _ = load_lm(tmp_path / "ladder" / "xs")
    assert model.config.n_embd == 64
    cached = PretrainTrainable(config=config).train()  # the same settings: nothing trained again
    assert cached["done"] and cached["training_iteration"] == 1 and cached["lm_loss"] == going_on["lm_loss"]
    with pytest.raises(ValueError, match="holds a model pretrained with other settings"):
        PretrainTrainable(config={**config, "lr": 1e-4})


def test_the_halves_never_overlap_and_the_test_set_is_never_trained_on() -> None:
    for name in ("comparison", "sum_compare", "legs_compare", "breast_cancer"):
        task = load_task(name, 400, 100)
        first, second = halves(task, seed=0)
        assert not set(first) & set(second) and sorted([*first, *second]) == list(range(len(task.train_texts)))
        assert not set(task.test_texts) & set(task.train_texts), name
        assert 0.3 < task.train_labels.mean() < 0.7 and set(task.test_labels) == {0, 1}
        assert not np.array_equal(halves(task, seed=1)[0], first)  # the seed draws the halves


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache whose ladder holds untrained xs and s models (the tests check wiring, not learning)."""
    root = tmp_path_factory.mktemp("cache")
    for size in ("xs", "s"):
        torch.manual_seed(0)
        save_lm(build_lm(size), root / "ladder" / size, {"settings": {"size": size}})
    return root


def test_weak_labels_are_the_weak_models_predictions_on_the_second_half(cache: Path) -> None:
    cfg = W2SConfig(cache=str(cache), task="comparison", model="xs", **TINY_TASK)
    study = Study(cfg)
    result, folder = study.weak(ModelRef(size="xs"))
    labels = np.load(folder / "labels.npy")
    torch.manual_seed(cfg.seed)
    lm, tokenizer = load_lm(cache / "ladder" / "xs")
    model = LastTokenClassifier(lm)
    texts = study.task.train_texts
    fit(model, *encode(tokenizer, [texts[i] for i in study.first], cfg.max_length), one_hot(study.task.train_labels[study.first]),
        xent, cfg.lr, cfg.batch_size, cfg.epochs, False, cfg.seed)
    expected = predict(model, *encode(tokenizer, [texts[i] for i in study.second], cfg.max_length))
    assert labels.shape == (len(study.second), 2) and np.allclose(labels, expected, atol=1e-5)
    assert result["examples"] == len(study.first) == 12
    assert study.weak(ModelRef(size="xs"))[1] == folder  # cached: the second ask trains nothing


def test_a_student_learns_from_the_weak_labels_and_reports_pgr(cache: Path) -> None:
    study = Study(W2SConfig(cache=str(cache), task="comparison", pair=["xs", "s"], loss="logconf", **TINY_TASK))
    student = study.student(ModelRef(size="xs"), ModelRef(size="s"))
    assert 0 <= student["accuracy"] <= 1 and student["examples"] == len(study.second)
    spec = json.loads(next((cache / "w2s" / "student").glob("*/spec.json")).read_text())
    assert spec["loss"] == "logconf" and spec["weak"]["model"]["size"] == "xs" and spec["model"]["size"] == "s"


def test_a_linear_probe_trains_the_head_on_a_frozen_body(cache: Path) -> None:
    lm, tokenizer = load_lm(cache / "ladder" / "xs")
    model = LastTokenClassifier(lm)
    body = {name: p.clone() for name, p in model.body.named_parameters()}
    task = load_task("comparison", 24, 8)
    ids, mask = encode(tokenizer, task.train_texts, max_length=64)
    fit(model, ids, mask, one_hot(task.train_labels), xent, lr=1e-2, batch_size=8, epochs=2, linear_probe=True, seed=0)
    assert all(torch.equal(p, body[name]) for name, p in model.body.named_parameters())
    assert model.head.weight.abs().sum() > 0  # zero-initialized, then trained


def test_pgr_is_zero_at_the_weak_model_and_one_at_the_ceiling() -> None:
    assert pgr(0.6, 0.6, 0.8) == 0 and pgr(0.6, 0.8, 0.8) == 1 and pgr(0.6, 0.7, 0.8) == pytest.approx(0.5)
    assert np.isnan(pgr(0.7, 0.7, 0.7))


def test_the_confidence_loss_is_cross_entropy_at_coefficient_zero_and_the_released_formula_otherwise() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.5, 0.4], [-1.0, 1.0], [0.0, 3.0]])
    weak = torch.tensor([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8]])
    assert make_loss("logconf", 0.0, 0.1)(logits, weak, 0.7).item() == pytest.approx(xent(logits, weak, 0.7).item())
    # By hand: class-0 probabilities sigmoid(2), sigmoid(0.1), sigmoid(-2), sigmoid(-3); the weak
    # labels' class-1 mean is 0.5, so the threshold is their median (between sigmoid(-2) and
    # sigmoid(0.1)): the first two harden to class 0, the last two to class 1.
    p0 = torch.sigmoid(torch.tensor([2.0, 0.1, -2.0, -3.0]))
    assert torch.quantile(p0, 0.5) == pytest.approx(((p0[1] + p0[2]) / 2).item())
    hardened = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    log_probs = torch.log_softmax(logits, dim=-1)
    for step_frac, coef in ((0.05, 0.05 * 0.5), (0.5, 0.5)):  # during the warm-up: step_frac * aux_coef
        target = weak * (1 - coef) + hardened * coef
        expected = -(target * log_probs).sum(dim=1).mean()
        assert logconf(logits, weak, step_frac, aux_coef=0.5, warmup_frac=0.1).item() == pytest.approx(expected.item(), rel=1e-6)


def test_bad_w2s_input_is_refused_before_ray_starts(tmp_path: Path) -> None:
    students, ground_truth = "jobs/weak_to_strong/students.yaml", "jobs/weak_to_strong/ground_truth.yaml"
    reversed_pair = rapid("validate", students, "--set", "param_space.pair={grid_search: [[xs, s], [m, s]]}")
    assert reversed_pair.returncode == 2 and "config.pair: weak model 'm' is not smaller than strong model 's'" in reversed_pair.stderr
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "config.json").write_text(json.dumps({"architectures": ["BertForMaskedLM"]}))
    for spec, override, problem in (
        (students, "param_space.task={grid_search: [sum_compare, poetry]}", "config.task: unknown task 'poetry'"),
        (students, "param_space.loss={grid_search: [xent, hinge]}", "config.loss: unknown loss 'hinge'"),
        (ground_truth, f"param_space.model={{grid_search: [{{path: {tmp_path}/bert}}]}}", "a BertForMaskedLM; expected a causal LM"),
        (ground_truth, f"param_space.model={{grid_search: [{{path: {tmp_path}/none}}]}}", f"{tmp_path}/none: no config.json"),
    ):
        with pytest.raises(RapidError, match=re.escape(problem)):
            load_spec(spec, overrides=[override])


def test_the_smoke_study_runs_end_to_end_and_resumes_without_training_anything_twice(ray_head: Head, tmp_path: Path) -> None:
    run = killed_smoke_pipeline("jobs/weak_to_strong.yaml", "ground_truth", tmp_path / "results", ray_head.env())
    made = {p: p.stat().st_mtime_ns for p in (run / "cache").glob("*/*") if not p.name.startswith(".")}
    made.update({p: p.stat().st_mtime_ns for p in (run / "cache" / "w2s").glob("*/*")})
    resumed = rapid("run", "--resume", str(run), env=ray_head.env(), timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert all(p.stat().st_mtime_ns == t for p, t in made.items())  # the ladder and ground-truth runs were reused
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "finished" and [s["stage"] for s in summary["stages"]] == ["ladder", "ground_truth", "students"]
    students = list((run / "cache" / "w2s" / "student").iterdir())
    assert len(students) == 2  # xent and logconf
    pairs = summary["report"]["pairs"]
    assert sorted(p["loss"] for p in pairs) == ["logconf", "xent"] and all(p["student_accuracy"]["seeds"] == 1 for p in pairs)
    assert (run / "students" / "plots" / "pgr_comparison.png").exists() and (run / "students" / "plots" / "pgr_vs_gap.png").exists()
    ground_truth = json.loads((run / "ground_truth" / "summary.json").read_text())
    assert {m["model"] for m in ground_truth["report"]["models"]} == {"xs", "s"}


def test_the_report_calls_pgr_only_where_the_gap_exceeds_twice_its_spread_over_seeds(tmp_path: Path) -> None:
    def trial(pair: list[str], seed: int, weak: float, ceiling: float, student: float) -> tuple[dict, dict]:
        return ({"task": "comparison", "loss": "xent", "pair": pair, "seed": seed},
                {"weak_accuracy": weak, "ceiling_accuracy": ceiling, "student_accuracy": student,
                 "pgr": pgr(weak, student, ceiling)})

    trials = [trial(["xs", "l"], 0, 0.60, 0.90, 0.75), trial(["xs", "l"], 1, 0.62, 0.91, 0.80), trial(["xs", "l"], 2, 0.61, 0.89, 0.70),
              trial(["s", "m"], 0, 0.70, 0.72, 0.71), trial(["s", "m"], 1, 0.72, 0.70, 0.71), trial(["s", "m"], 2, 0.71, 0.74, 0.72)]
    report = w2s_report(trials, RunDir(str(tmp_path)))
    called = {(p["weak"], p["strong"]): p for p in report["pairs"]}
    assert called[("xs", "l")]["called"] and called[("xs", "l")]["pgr"]["mean"] == pytest.approx(0.5, abs=0.02)
    assert not called[("s", "m")]["called"]  # a gap of 0.01 +- 0.03: too close to call
    assert called[("xs", "l")]["pgr"]["seeds"] == 3 and (tmp_path / "plots" / "pgr_comparison.png").exists()

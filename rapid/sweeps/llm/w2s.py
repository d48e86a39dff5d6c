"""The `w2s` trainable: weak-to-strong generalization (Burns et al. 2023) as the released code runs it.

Three kinds of fine-tuning run, each cached (`Cache`) under everything that determines it:
- weak: a model trained on the first half's ground truth; its test accuracy, and its soft labels
  on the second half (the weak labels);
- ceiling: a model trained on the second half's ground truth;
- student: the strong model trained on the second half's weak labels, with the trial's loss.
A ground-truth trial (`model:`) makes the weak and ceiling runs of one model; a student trial
(`pair: [weak, strong]`) reads them (making any the cache lacks) and trains the student. PGR, the
performance gap recovered, is (student - weak) / (ceiling - weak).
"""

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ray import tune

from rapid.platform.plugins import validate_settings
from rapid.sweeps.llm.cache import Cache
from rapid.sweeps.llm.classifier import LastTokenClassifier, encode, fit, one_hot, predict
from rapid.sweeps.llm.config import ModelRef, W2SConfig
from rapid.sweeps.llm.ladder import lm_meta, load_lm
from rapid.sweeps.llm.losses import make_loss
from rapid.sweeps.llm.tasks import TaskData, halves, load_task

RESULT, LABELS = "result.json", "labels.npy"


def model_path(ref: ModelRef, cache: str) -> Path:
    path = Path(cache) / "ladder" / ref.size if ref.size is not None else Path(ref.path)
    if not path.exists():
        how = "pretrain it first (lm_pretrain: the pipeline's ladder stage)" if ref.size else "expected a model folder"
        raise ValueError(f"no model at {path}: {how}")
    return path


def model_identity(ref: ModelRef, cache: str) -> dict[str, Any]:
    """What makes two models the same: a ladder size and how it was pretrained, or a folder and its config."""
    path = model_path(ref, cache)
    if ref.size is not None:
        return {"size": ref.size, "pretrained": lm_meta(path).get("settings")}
    return {"path": str(path.resolve()), "config": hashlib.sha256((path / "config.json").read_bytes()).hexdigest()}


def pgr(weak: float, student: float, ceiling: float) -> float:
    """Performance gap recovered: 0 when the student is no better than its weak supervisor, 1 when
    it reaches the ceiling (nan when there is no gap)."""
    gap = ceiling - weak
    return (student - weak) / gap if gap != 0 else float("nan")


class Study:
    """One trial's task, halves, cache and training settings; `run` gives each fine-tuning's result."""

    def __init__(self, cfg: W2SConfig) -> None:
        self.cfg = cfg
        self.cache = Cache(Path(cfg.cache) / "w2s")
        self.task: TaskData = load_task(cfg.task, cfg.train_size, cfg.test_size)
        self.first, self.second = halves(self.task, cfg.seed)
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    def _spec(self, role: str, ref: ModelRef, **more: Any) -> dict[str, Any]:
        settings = self.cfg.model_dump(include={"task", "train_size", "test_size", "lr", "batch_size", "epochs",
                                                "linear_probe", "max_length", "seed"})
        return {"role": role, "model": model_identity(ref, self.cfg.cache), **settings, **more}

    def weak(self, ref: ModelRef) -> tuple[dict[str, Any], Path]:
        """The model trained on the first half's ground truth: its result and its folder (with the weak labels)."""
        spec = self._spec("weak", ref)
        folder = self.cache.make("weak", spec, lambda out: self._train(ref, self.first, None, "xent", out, self.second))
        return self._result(folder)

    def ceiling(self, ref: ModelRef) -> dict[str, Any]:
        spec = self._spec("ceiling", ref)
        return self._result(self.cache.make("ceiling", spec, lambda out: self._train(ref, self.second, None, "xent", out)))[0]

    def student(self, weak: ModelRef, strong: ModelRef) -> dict[str, Any]:
        _, weak_folder = self.weak(weak)
        labels = np.load(weak_folder / LABELS)
        loss = {"loss": self.cfg.loss}
        if self.cfg.loss == "logconf":
            loss.update(aux_coef=self.cfg.aux_coef, warmup_frac=self.cfg.warmup_frac)
        spec = self._spec("student", strong, weak=self._spec("weak", weak), **loss)
        folder = self.cache.make("student", spec, lambda out: self._train(strong, self.second, labels, self.cfg.loss, out))
        return self._result(folder)[0]

    @staticmethod
    def _result(folder: Path) -> tuple[dict[str, Any], Path]:
        return json.loads((folder / RESULT).read_text()), folder

    def _train(self, ref: ModelRef, rows: np.ndarray, soft: np.ndarray | None, loss: str, out: Path,
               label_rows: np.ndarray | None = None) -> None:
        """Fine-tune on `rows` of the training set (their ground truth, or `soft` labels), write the
        test accuracy and, for a weak model, its soft labels of `label_rows`."""
        cfg = self.cfg
        torch.manual_seed(cfg.seed)
        lm, tokenizer = load_lm(model_path(ref, cfg.cache))
        model = LastTokenClassifier(lm).to(self.device)
        texts = self.task.train_texts
        ids, mask = encode(tokenizer, [texts[i] for i in rows], cfg.max_length)
        targets = one_hot(self.task.train_labels[rows]) if soft is None else torch.from_numpy(soft).float()
        losses = fit(model, ids, mask, targets, make_loss(loss, cfg.aux_coef, cfg.warmup_frac), cfg.lr, cfg.batch_size,
                     cfg.epochs, cfg.linear_probe, cfg.seed)
        test = predict(model, *encode(tokenizer, self.task.test_texts, cfg.max_length))
        result = {"accuracy": float((test.argmax(1) == self.task.test_labels).mean()), "final_loss": float(np.mean(losses[-10:])),
                  "examples": len(rows)}
        if label_rows is not None:
            labels = predict(model, *encode(tokenizer, [texts[i] for i in label_rows], cfg.max_length))
            np.save(out / LABELS, labels.astype(np.float32))
            result["label_accuracy"] = float((labels.argmax(1) == self.task.train_labels[label_rows]).mean())
        (out / RESULT).write_text(json.dumps(result))


class W2STrainable(tune.Trainable):
    """One Tune step does the trial's whole work and reports it done; the cache is its checkpoint."""

    def setup(self, config: dict[str, Any]) -> None:
        self.cfg = validate_settings(W2SConfig, config, ("config",))
        self.study = Study(self.cfg)

    def step(self) -> dict[str, Any]:
        cfg, study = self.cfg, self.study
        if cfg.model is not None:
            weak, _ = study.weak(cfg.model)
            ceiling = study.ceiling(cfg.model)
            return {"weak_accuracy": weak["accuracy"], "ceiling_accuracy": ceiling["accuracy"],
                    "label_accuracy": weak["label_accuracy"], "model": cfg.model.name, "done": True}
        weak_ref, strong_ref = cfg.pair
        weak, _ = study.weak(weak_ref)
        ceiling = study.ceiling(strong_ref)
        student = study.student(weak_ref, strong_ref)
        return {"weak_accuracy": weak["accuracy"], "ceiling_accuracy": ceiling["accuracy"],
                "student_accuracy": student["accuracy"], "pgr": pgr(weak["accuracy"], student["accuracy"], ceiling["accuracy"]),
                "weak": weak_ref.name, "strong": strong_ref.name, "done": True}

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        """Tune reuses this actor for the next trial: torch and transformers stay imported."""
        self.setup(new_config)
        return True

    def save_checkpoint(self, checkpoint_dir: str) -> None:
        (Path(checkpoint_dir) / "cache.json").write_text(json.dumps({"cache": self.cfg.cache}))

    def load_checkpoint(self, checkpoint_dir: str) -> None:
        """Nothing to restore: the trial's finished runs are in the cache."""

"""Recorded learning curves (`data/learning_curves/`) and the trainable that replays them.

A scheduler is judged on how many epochs it spends and whether it keeps the best trial. On
recorded curves of real trained networks that takes seconds instead of GPU-days: each trial
reports one recorded epoch per step, with the network's architecture and hyperparameters.
"""

import json
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from ray import tune

from rapid.platform.run_dir import RunDir, storage_uri

# Curve columns, in epoch order: acc_1..acc_20 (accuracy) or ep_0..ep_59 (perplexity).
CURVE_COLUMN = re.compile(r"^(acc|ep)_(\d+)$")
# What each kind of column measures, as the result key a trial reports and whether higher is better.
MEASURES = {"acc": ("val_accuracy", "max"), "ep": ("val_perplexity", "min")}


@dataclass(frozen=True)
class CurveSet:
    """One file of recorded curves: values[i, t] is network i's measure after epoch t + 1."""

    path: Path
    values: np.ndarray
    features: dict[str, np.ndarray]
    metric: str
    mode: str

    @property
    def epochs(self) -> int:
        return self.values.shape[1]

    def __len__(self) -> int:
        return self.values.shape[0]


def _number(text: object) -> bool:
    try:
        float(str(text))
    except ValueError:
        return False
    return True


def _check_curve_column(path: Path, name: str, column: pa.ChunkedArray) -> None:
    """Every network has a number at every epoch: a ragged or non-numeric curve is a ValueError."""
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type) or pa.types.is_null(column.type)):
        row, text = next((i, v) for i, v in enumerate(column.to_pylist()) if v is not None and not _number(v))
        raise ValueError(f"{path}: column {name}: row {row + 1}: expected a number, got {text!r}")
    if column.null_count:
        row = column.to_pylist().index(None)
        raise ValueError(f"{path}: column {name}: row {row + 1} has no value (ragged curves: every network needs every epoch)")


@cache
def load_curves(path: str | Path) -> CurveSet:
    """Read a curve file; the numeric columns before the curve (num_params, depth, lr, ...) are
    the network's features. A missing file or one without curve columns is a ValueError."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such curve file")
    table = pacsv.read_csv(path)
    curve = [(c, CURVE_COLUMN.match(c)) for c in table.column_names]
    curve = sorted(((int(m.group(2)), c, m.group(1)) for c, m in curve if m), key=lambda x: x[0])
    if not curve:
        raise ValueError(f"{path}: no curve columns (acc_<epoch> or ep_<epoch>)")
    metric, mode = MEASURES[curve[0][2]]
    for _, column, _ in curve:
        _check_curve_column(path, column, table[column])
    values = np.stack([table[c].to_numpy().astype(np.float64) for _, c, _ in curve], axis=1)
    curve_names = {c for _, c, _ in curve}
    features = {
        c: table[c].to_numpy().astype(np.float64)
        for c in table.column_names
        if c not in curve_names and (pa.types.is_integer(table[c].type) or pa.types.is_floating(table[c].type))
    }
    return CurveSet(path, values, features, metric, mode)


def export_curves(run_dir: str | Path, out: str | Path, epochs: int, dataset: str) -> int:
    """Write the `cnn` trials of a finished sweep in `run_dir` that trained `epochs` epochs as a
    curve file `out` (the columns of metaqnn_cifar10.csv), so a family recorded here is replayed
    and learned from like the shipped ones; the number of networks written. The file appears
    whole or not at all."""
    curves: dict[str, dict[int, dict[str, Any]]] = {}  # trial -> epoch -> its row
    for row in RunDir(storage_uri(str(run_dir))).current_rows():
        curves.setdefault(row["trial_id"], {})[int(row["epoch"])] = row
    rows = []
    for trial_id, by_epoch in sorted(curves.items()):
        if not all(e in by_epoch for e in range(1, epochs + 1)):
            continue
        net = json.loads((Path(run_dir) / f"trial_{trial_id}" / "params.json").read_text())["net"]
        last = by_epoch[epochs]
        rows.append({"net": f"[{', '.join(net)}]", "training_dataset": dataset,
                     **{k: last[k] for k in ("num_params", "depth", "lr")},
                     **{f"acc_{e}": by_epoch[e]["val_accuracy"] for e in range(1, epochs + 1)}})  # fmt: skip
    if not rows:
        raise ValueError(f"{run_dir}: no trial trained {epochs} epochs")
    staging = Path(f"{out}.tmp")
    pacsv.write_csv(pa.Table.from_pylist(rows), staging)
    os.replace(staging, out)
    return len(rows)


class LearningCurveReplay(tune.Trainable):
    """Config: `curves` (a curve file) and `row`. Step t reports the recorded value after epoch
    t, `epoch`, `row` and the row's features; the trial is done when the recording ends."""

    def setup(self, config: dict[str, Any]) -> None:
        self._load(config)

    def _load(self, config: dict[str, Any]) -> None:
        self.curves = load_curves(config["curves"])
        self.row = int(config["row"])
        self.epoch = 0

    def step(self) -> dict[str, Any]:
        self.epoch += 1
        value = float(self.curves.values[self.row, self.epoch - 1])
        features = {k: float(v[self.row]) for k, v in self.curves.features.items()}
        done = self.epoch >= self.curves.epochs
        return {self.curves.metric: value, "epoch": self.epoch, "row": self.row, **features, "done": done}

    def save_checkpoint(self, checkpoint_dir: str) -> dict[str, Any]:
        return {"epoch": self.epoch}

    def load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.epoch = checkpoint["epoch"]

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        """Tune reuses the actor for the next trial: a sweep over 1,000 rows starts no new processes."""
        self._load(new_config)
        return True

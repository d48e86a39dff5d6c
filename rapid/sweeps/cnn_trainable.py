"""The `cnn` trainable: trains one MetaQNN layer list on an image dataset, one epoch per Tune step.

The schedule is the paper's, scaled by the config: Adam, batch 128, learning rate x0.2 every 5
epochs, and a network that has not learned after its first epoch restarts at 0.4 times the
learning rate, up to 5 times. Each step reports validation accuracy on a class-balanced
held-out split of the training images, and the architecture features a performance predictor
uses (num_params, depth, lr).
"""

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import Field, ValidationError
from ray import tune
from torch import nn

from rapid.platform.errors import RapidError
from rapid.platform.plugins import Strict
from rapid.sweeps.cnn import build_cnn, forward_check, parameter_count
from rapid.sweeps.image_datasets import SHAPES, dataset_shape, load_dataset, missing_files, validation_split
from rapid.sweeps.metaqnn_space import Rules, StateSpace, parse_layer


class CNNConfig(Strict):
    """A `cnn` trial's config: `config:` of the sweep plus what the search sets."""


    net: list[str] | None = Field(
        None, description="the layer list, e.g. [C(64,3,1), P(2,2), SM(10)]; the metaqnn searcher sets it"
    )
    epsilon: float | None = Field(None, description="set by the metaqnn searcher: its exploration rate when it chose the net")
    dataset: str = Field("digits", description=f"one of {', '.join(SHAPES)}")
    data_dir: str | None = Field(None, description="folder with the dataset's standard files (not needed for digits)")
    validation_size: int = Field(360, ge=10, description="held-out training images, class-balanced (the paper: 5,000)")
    batch_size: int = Field(128, ge=1)
    lr: float = Field(1e-3, gt=0, description="Adam's learning rate at the start")
    lr_decay: float = Field(0.2, gt=0, le=1, description="learning rate factor every lr_decay_every epochs")
    lr_decay_every: int = Field(5, ge=1)
    max_restarts: int = Field(5, ge=0, description="restarts of a network that has not learned after its first epoch")
    restart_lr_factor: float = Field(0.4, gt=0, lt=1, description="learning rate factor at each restart")
    learned_margin: float = Field(0.05, ge=0, description="learned: validation accuracy above chance by at least this")
    seed: int = 0


def check_cnn_config(config: dict[str, Any], source: str, lines: dict | None = None) -> None:
    """A trial's config, its layer list and its data, checked before any trial starts."""
    try:
        cfg = CNNConfig.model_validate(config)
        dataset_shape(cfg.dataset)
    except (ValidationError, ValueError) as err:
        problems = err.errors() if isinstance(err, ValidationError) else [{"loc": ("dataset",), "msg": str(err)}]
        raise RapidError(
            f"{source}: " + "; ".join(f"config.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in problems)
        ) from None
    if cfg.net is not None:
        (_, side, _), classes = SHAPES[cfg.dataset][0], SHAPES[cfg.dataset][1]
        try:
            Rules(StateSpace(), side, classes).trajectory(cfg.net)
        except ValueError as err:
            raise RapidError(f"{source}: config.net: {err}") from None


def check_cnn_data(config: dict[str, Any], what: str) -> None:
    """The dataset's files are at data_dir. Checked where the sweep runs (`rapid run`, `rapid
    validate`), not by `rapid submit` on a laptop: the cluster has the data, the laptop may not."""
    dataset, data_dir = config.get("dataset", "digits"), config.get("data_dir")
    missing = missing_files(dataset, data_dir)
    if missing:
        raise RapidError(f"{what}: config.data_dir: dataset {dataset} needs {', '.join(missing)} in {data_dir!r}")


@cache
def _prepared(dataset: str, data_dir: str | None, validation_size: int) -> tuple[torch.Tensor, ...]:
    """Normalized train and validation tensors, made once per process (a reused actor keeps them)."""
    data = load_dataset(dataset, data_dir)
    classes = SHAPES[dataset][1]
    train, validation = validation_split(data.labels, validation_size, classes)
    mean = data.images[train].mean(axis=(0, 2, 3), keepdims=True)
    std = data.images[train].std(axis=(0, 2, 3), keepdims=True) + 1e-6
    images = torch.from_numpy((data.images - mean) / std)
    labels = torch.from_numpy(data.labels)
    return images[train], labels[train], images[validation], labels[validation]


class CNNTrainable(tune.Trainable):
    def setup(self, config: dict[str, Any]) -> None:
        self.cfg = CNNConfig.model_validate(config)
        if self.cfg.net is None:
            raise ValueError("config.net: no layer list; give one or use the metaqnn searcher")
        self.shape, self.classes = dataset_shape(self.cfg.dataset)
        # The trial's GPU when it reserved one (Ray hides the others), else the CPU.
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.data = tuple(t.to(self.device) for t in _prepared(self.cfg.dataset, self.cfg.data_dir, self.cfg.validation_size))
        self.lr, self.epoch, self.restarts, self.epochs_trained = self.cfg.lr, 0, 0, 0
        self._new_network()

    def _new_network(self) -> None:
        torch.manual_seed(self.cfg.seed + self.restarts)
        self.model = build_cnn(self.cfg.net, self.shape).to(self.device)
        forward_check(self.model, self.shape, self.classes)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.lr)
        self.schedule = torch.optim.lr_scheduler.StepLR(self.optimizer, self.cfg.lr_decay_every, gamma=self.cfg.lr_decay)

    def _train_epoch(self) -> float:
        train_x, train_y, _, _ = self.data
        self.model.train()
        losses = []
        for batch in torch.randperm(len(train_y), device=self.device).split(self.cfg.batch_size):
            loss = nn.functional.cross_entropy(self.model(train_x[batch]), train_y[batch])
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            losses.append(loss.item())
        self.schedule.step()
        self.epochs_trained += 1
        return float(np.mean(losses))

    @torch.no_grad()
    def _accuracy(self) -> float:
        _, _, val_x, val_y = self.data
        self.model.eval()
        correct = sum(
            (self.model(x).argmax(1) == y).sum().item() for x, y in zip(val_x.split(1024), val_y.split(1024), strict=True)
        )
        return correct / len(val_y)

    def step(self) -> dict[str, Any]:
        loss, accuracy = self._train_epoch(), self._accuracy()
        chance = 1.0 / self.classes
        while self.epoch == 0 and accuracy < chance + self.cfg.learned_margin and self.restarts < self.cfg.max_restarts:
            self.restarts += 1
            self.lr *= self.cfg.restart_lr_factor
            self._new_network()
            loss, accuracy = self._train_epoch(), self._accuracy()
        self.epoch += 1
        return {
            "val_accuracy": accuracy,
            "train_loss": loss,
            "epoch": self.epoch,
            "lr": self.lr,
            "num_params": parameter_count(self.model),
            "depth": sum(not parse_layer(text).terminal for text in self.cfg.net),
            "restarts": self.restarts,
            "epochs_trained": self.epochs_trained,
        }

    def save_checkpoint(self, checkpoint_dir: str) -> None:
        state = {k: getattr(self, k) for k in ("lr", "epoch", "restarts", "epochs_trained")}
        parts = {"model": self.model, "optimizer": self.optimizer, "schedule": self.schedule}
        torch.save({**state, **{k: v.state_dict() for k, v in parts.items()}}, Path(checkpoint_dir) / "cnn.pt")

    def load_checkpoint(self, checkpoint_dir: str) -> None:
        state = torch.load(Path(checkpoint_dir) / "cnn.pt", map_location=self.device, weights_only=False)
        self.lr, self.epoch, self.restarts, self.epochs_trained = (
            state["lr"],
            state["epoch"],
            state["restarts"],
            state["epochs_trained"],
        )
        self._new_network()
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        """Tune reuses this actor for the next network: the dataset stays loaded."""
        self.setup(new_config)
        return True

"""The `vpt_idm` trainable: the inverse dynamics model trained on the labelled share of a recorded
dataset ("contractor data"), one epoch per Tune step.

Each epoch draws clips of `clip` transitions at random offsets from the training episodes; the
report gives the accuracy on every transition of the held-out labelled episodes, beside the
majority-action baseline (always predicting the commonest training action).
"""

from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import Field, PositiveInt, model_validator
from ray import tune
from torch import nn

from rapid.platform.plugins import Strict, validate_settings
from rapid.platform.schema_errors import KeyProblem
from rapid.policies.inverse_dynamics import InverseDynamicsModel
from rapid.sweeps.vpt.episodes import Episode, load_episodes, split

CHECKPOINT_FILE = "idm.pt"


class IDMConfig(Strict):
    """config of a `vpt_idm` sweep."""

    data: str = Field(..., description="a recorded dataset ({collect.dataset}); its labelled episodes train the model")
    actions: int = Field(17, ge=2, description="the env's number of discrete actions (Crafter: 17)")
    clip: int = Field(32, ge=1, le=128, description="transitions per training clip (the model sees clip + 1 frames)")
    clips_per_epoch: int = Field(256, ge=1)
    batch_size: int = Field(8, ge=1)
    lr: float = Field(1e-3, gt=0)
    validation_share: float = Field(0.2, gt=0, lt=1, description="share of labelled episodes held out")
    cnn_channels: list[PositiveInt] = Field([16, 32, 32], min_length=1)
    width: int = Field(256, ge=8)
    layers: int = Field(2, ge=1)
    heads: int = Field(4, ge=1)
    temporal_kernel: int = Field(5, ge=1, description="frames the 3D convolution spans (odd: as many before a frame as after)")
    seed: int = 0

    @model_validator(mode="after")
    def _sizes(self) -> "IDMConfig":
        if self.width % self.heads:
            raise KeyProblem("heads", f"{self.heads} heads must divide width {self.width}")
        if self.temporal_kernel % 2 == 0:
            raise KeyProblem("temporal_kernel", f"{self.temporal_kernel}: expected an odd number of frames")
        return self


def build_idm(cfg: IDMConfig, image_shape: tuple[int, int, int]) -> InverseDynamicsModel:
    height, width, channels = image_shape
    return InverseDynamicsModel(
        (channels, height, width), cfg.actions, cfg.cnn_channels, cfg.width, cfg.layers, cfg.heads,
        cfg.temporal_kernel, max_frames=max(cfg.clip, 128) + 1,
    )


@torch.no_grad()
def label_episode(model: InverseDynamicsModel, frames: np.ndarray, clip: int) -> np.ndarray:
    """The model's action for each of an episode's transitions, clip by clip (the last clip ends
    at the episode's end, so every transition sees up to `clip` neighbours)."""
    steps, device = len(frames) - 1, next(model.parameters()).device
    labels = np.zeros(steps, np.int64)
    for start in range(0, steps, clip):
        first = max(0, min(start, steps - clip))
        window = torch.from_numpy(frames[first:first + clip + 1]).unsqueeze(0).to(device)
        labels[first:first + clip] = model(window).argmax(-1)[0].cpu().numpy()
    return labels


def accuracy(model: InverseDynamicsModel, episodes: list[Episode], clip: int) -> float:
    model.eval()
    right = sum(int((label_episode(model, e.frames, clip) == e.actions).sum()) for e in episodes)
    return right / max(1, sum(len(e.actions) for e in episodes))


class IDMTrainable(tune.Trainable):
    def setup(self, config: dict[str, Any]) -> None:
        self.cfg = validate_settings(IDMConfig, config, ("config",))
        torch.manual_seed(self.cfg.seed)
        self.rng = np.random.default_rng(self.cfg.seed)
        self.train_episodes, self.held_out = split(load_episodes(self.cfg.data, labelled_only=True), self.cfg.validation_share)
        if not self.held_out:
            raise ValueError(
                f"config.data: {self.cfg.data} has fewer than 2 labelled episodes; record more or a larger labelled_share"
            )
        # The trial's GPU when it reserved one (Ray hides the others), else the CPU.
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.model = build_idm(self.cfg, self.train_episodes[0].frames.shape[1:]).to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.cfg.lr)
        counts = np.bincount(np.concatenate([e.actions for e in self.train_episodes]), minlength=self.cfg.actions)
        held = np.concatenate([e.actions for e in self.held_out])
        self.majority = float((held == counts.argmax()).mean())
        self.epoch = 0

    def _clips(self) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch of clips at random offsets; episodes shorter than a clip give shorter clips, so
        clips of one batch share the shortest length."""
        chosen = self.rng.integers(len(self.train_episodes), size=self.cfg.batch_size)
        length = min(self.cfg.clip, *(len(self.train_episodes[i].actions) for i in chosen))
        frames, actions = [], []
        for i in chosen:
            episode = self.train_episodes[i]
            start = int(self.rng.integers(len(episode.actions) - length + 1))
            frames.append(episode.frames[start:start + length + 1])
            actions.append(episode.actions[start:start + length])
        return torch.from_numpy(np.stack(frames)).to(self.device), torch.from_numpy(np.stack(actions)).to(self.device)

    def step(self) -> dict[str, Any]:
        self.model.train()
        losses = []
        for _ in range(max(1, self.cfg.clips_per_epoch // self.cfg.batch_size)):
            frames, actions = self._clips()
            loss = nn.functional.cross_entropy(self.model(frames).flatten(0, 1), actions.flatten())
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            losses.append(loss.item())
        self.epoch += 1
        return {
            "idm_accuracy": accuracy(self.model, self.held_out, self.cfg.clip),
            "majority_accuracy": self.majority,
            "idm_loss": float(np.mean(losses)),
            "epoch": self.epoch,
            "labelled_frames": sum(len(e.actions) for e in self.train_episodes),
        }

    def save_checkpoint(self, checkpoint_dir: str) -> None:
        torch.save(
            {"config": self.cfg.model_dump(), "image_shape": self.train_episodes[0].frames.shape[1:], "epoch": self.epoch,
             "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "rng": self.rng.bit_generator.state},
            Path(checkpoint_dir) / CHECKPOINT_FILE,
        )

    def load_checkpoint(self, checkpoint_dir: str) -> None:
        state = torch.load(Path(checkpoint_dir) / CHECKPOINT_FILE, map_location=self.device, weights_only=False)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch, self.rng.bit_generator.state = state["epoch"], state["rng"]


def load_idm(checkpoint: str) -> tuple[InverseDynamicsModel, int]:
    """A trained model from a `vpt_idm` checkpoint folder, and its clip length."""
    path = Path(checkpoint) / CHECKPOINT_FILE
    if not path.exists():
        raise ValueError(f"config.idm: {checkpoint}: no {CHECKPOINT_FILE}; expected a checkpoint of the vpt_idm trainable")
    state = torch.load(path, map_location="cpu", weights_only=False)
    cfg = IDMConfig.model_validate(state["config"])
    model = build_idm(cfg, tuple(state["image_shape"]))
    model.load_state_dict(state["model"])
    model.eval()
    return model, cfg.clip

"""The `vpt_bc` trainable: behavioural cloning of a causal, recurrent RLModule on a labelled
dataset, one epoch per Tune step; its checkpoints are RLlib module checkpoints, so an RLlib job
starts from them (`policy.init_checkpoint`) and a KL term can hold it to them.

The module is the one the fine-tuning job names (`policy:`), built for the spaces of the env it
fine-tunes on (`env`, `env_config`). Episodes are cut into sequences of `seq_len` steps and run in
order with the recurrent state carried from one sequence to the next (truncated backpropagation
through time), as the policy runs when it acts. `labels: pseudo` clones the inverse dynamics
model's labels on every episode (the recorded actions where a row has them); `labels: recorded`
clones the recorded actions of the labelled episodes only (record with labelled_share 1 for the
upper reference on the same episodes). The report gives the accuracy on held-out labelled episodes.
"""

from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field
from ray import tune
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
from torch import nn

from rapid.platform.env_stack import make_env
from rapid.platform.initial_weights import MODULE_WEIGHTS
from rapid.platform.plugins import Strict, validate_settings
from rapid.platform.spec_parts import Policy
from rapid.sweeps.vpt.episodes import Episode, load_episodes, split

POLICY = "default_policy"
TRAINER_FILE = "bc.pt"


class BCConfig(Strict):
    """config of a `vpt_bc` sweep."""

    data: str = Field(..., description="a labelled dataset ({label.dataset}), or a recorded one with labels: recorded")
    env: str = Field(..., description="the env the policy will act in (its spaces shape the module)")
    env_config: dict[str, Any] = {}
    policy: Policy = Field(..., description="the RLModule, as the fine-tuning job names it")
    labels: Literal["pseudo", "recorded"] = Field("pseudo", description="clone the model's labels, or only recorded actions")
    seq_len: int = Field(32, ge=1, description="steps per sequence of truncated backpropagation through time")
    batch_episodes: int = Field(8, ge=1, description="episodes stepped side by side")
    lr: float = Field(1e-3, gt=0)
    validation_share: float = Field(0.2, gt=0, lt=1, description="share of labelled episodes held out")
    seed: int = 0


def build_policy(cfg: BCConfig) -> Any:
    """The job's module, for its env's spaces, inside the MultiRLModule an RLlib checkpoint holds."""
    env = make_env(cfg.env, cfg.env_config)
    spec = cfg.policy.module_spec(env.observation_space, env.action_space)
    env.close()
    return MultiRLModuleSpec(rl_module_specs={POLICY: spec}).build()


def frames_batch(module: Any, frames: np.ndarray, state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The batch the module learns from: the recorded frames (B, T, H, W, C) under its image key."""
    image_key = module.model_config.get("image_key", "image")
    return {Columns.OBS: {image_key: torch.from_numpy(frames).to(state_device(state))}, Columns.STATE_IN: state}


def state_device(state: dict[str, torch.Tensor]) -> torch.device:
    return next(iter(state.values())).device


def check_bc_config(config: dict[str, Any]) -> None:
    """The module learns from frames alone: one step of it on a blank frame, before any trial starts."""
    cfg = validate_settings(BCConfig, config, ("config",))
    module = build_policy(cfg)[POLICY]
    space = module.observation_space
    image_key = module.model_config.get("image_key", "image")
    if not hasattr(space, "spaces") or image_key not in space.spaces:
        raise ValueError(f"config.policy: the module's image key '{image_key}' is not an observation of env '{cfg.env}'")
    frames = np.zeros((1, 1, *space[image_key].shape), np.uint8)
    state = {k: torch.from_numpy(v[None]) for k, v in module.get_initial_state().items()}
    try:
        with torch.no_grad():
            module.forward_train(frames_batch(module, frames, state))
    except KeyError as err:
        raise ValueError(f"config.policy.model_config: the module reads observation {err}, but recorded episodes hold "
                         "frames only; turn that input off (null), as VPT's pixel-only policy") from None


def _targets(episode: Episode, labels: str) -> np.ndarray | None:
    if labels == "recorded" or episode.pseudo is None:
        return episode.actions
    return episode.actions if episode.actions is not None else episode.pseudo


def run_sequences(module: Any, batch: list[tuple[np.ndarray, np.ndarray]], seq_len: int,
                  optimizer: torch.optim.Optimizer | None = None) -> tuple[float, int, int]:
    """Step a batch of (frames, actions) episodes side by side, `seq_len` steps at a time, carrying
    the state (learning from each sequence when given an optimizer); returns (summed loss, right
    predictions, predictions)."""
    device = next(module.parameters()).device
    longest = max(len(actions) for _, actions in batch)
    frames = np.zeros((len(batch), longest, *batch[0][0].shape[1:]), np.uint8)
    targets = np.zeros((len(batch), longest), np.int64)
    mask = np.zeros((len(batch), longest), bool)
    for row, (episode_frames, actions) in enumerate(batch):
        frames[row, :len(actions)] = episode_frames[:-1]
        targets[row, :len(actions)], mask[row, :len(actions)] = actions, True
    initial = module.get_initial_state()
    state = {k: torch.from_numpy(np.stack([v] * len(batch))).to(device) for k, v in initial.items()}
    total, right, count = 0.0, 0, 0
    for start in range(0, longest, seq_len):
        part = slice(start, start + seq_len)
        out = module.forward_train(frames_batch(module, frames[:, part], state))
        logits = out[Columns.ACTION_DIST_INPUTS]
        want, valid = torch.from_numpy(targets[:, part]).to(device), torch.from_numpy(mask[:, part]).to(device)
        loss = nn.functional.cross_entropy(logits[valid], want[valid], reduction="sum")
        if optimizer is not None:
            optimizer.zero_grad()
            (loss / valid.sum()).backward()
            optimizer.step()
        state = {k: v.detach() for k, v in out[Columns.STATE_OUT].items()}
        total += loss.item()
        right += int((logits.argmax(-1)[valid] == want[valid]).sum())
        count += int(valid.sum())
    return total, right, count


def action_accuracy(module: Any, episodes: list[Episode], seq_len: int) -> float:
    """How often the module's likeliest action is the recorded one, over the episodes' labelled steps."""
    module.eval()
    with torch.no_grad():
        _, right, seen = run_sequences(module, [(e.frames, e.actions) for e in episodes if e.actions is not None], seq_len)
    return right / max(1, seen)


class BCTrainable(tune.Trainable):
    def setup(self, config: dict[str, Any]) -> None:
        self.cfg = validate_settings(BCConfig, config, ("config",))
        torch.manual_seed(self.cfg.seed)
        self.rng = np.random.default_rng(self.cfg.seed)
        episodes = load_episodes(self.cfg.data, labelled_only=self.cfg.labels == "recorded")
        if self.cfg.labels == "pseudo" and any(e.pseudo is None and e.actions is None for e in episodes):
            raise ValueError(f"config.data: {self.cfg.data} has episodes with neither actions nor pseudo_action; label it first")
        train, self.held_out = split(episodes, self.cfg.validation_share)
        self.train_episodes = [(e.frames, _targets(e, self.cfg.labels)) for e in train]
        # The trial's GPU when it reserved one (Ray hides the others), else the CPU.
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.modules = build_policy(self.cfg)
        self.module = self.modules[POLICY].to(self.device)
        self.optimizer = torch.optim.Adam(self.module.parameters(), lr=self.cfg.lr)
        self.epoch = 0

    def step(self) -> dict[str, Any]:
        self.module.train()
        order = self.rng.permutation(len(self.train_episodes))
        total = count = 0
        for first in range(0, len(order), self.cfg.batch_episodes):
            batch = [self.train_episodes[i] for i in order[first:first + self.cfg.batch_episodes]]
            loss, _, n = run_sequences(self.module, batch, self.cfg.seq_len, self.optimizer)
            total, count = total + loss, count + n
        self.epoch += 1
        return {"bc_loss": total / count, "bc_accuracy": action_accuracy(self.module, self.held_out, self.cfg.seq_len),
                "epoch": self.epoch, "frames": count}

    def save_checkpoint(self, checkpoint_dir: str) -> None:
        self.modules.save_to_path(Path(checkpoint_dir) / MODULE_WEIGHTS)
        torch.save({"optimizer": self.optimizer.state_dict(), "epoch": self.epoch, "rng": self.rng.bit_generator.state},
                   Path(checkpoint_dir) / TRAINER_FILE)

    def load_checkpoint(self, checkpoint_dir: str) -> None:
        self.modules.restore_from_path(Path(checkpoint_dir) / MODULE_WEIGHTS)
        state = torch.load(Path(checkpoint_dir) / TRAINER_FILE, map_location=self.device, weights_only=False)
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch, self.rng.bit_generator.state = state["epoch"], state["rng"]

"""The `lm_pretrain` trainable: one ladder model pretrained on the generated corpus, `tokens_per_iteration`
tokens per Tune step; at `tokens` it saves the model in Hugging Face format to <cache>/ladder/<size>
and reports done.

A model already in the cache with the same settings is not trained again (the trial reports its
figures and ends); one with other settings is refused: point `cache` elsewhere.
"""

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ray import tune

from rapid.platform.plugins import validate_settings
from rapid.sweeps.llm.config import PretrainConfig
from rapid.sweeps.llm.corpus import Corpus
from rapid.sweeps.llm.ladder import build_lm, lm_meta, parameter_count, save_lm
from rapid.sweeps.llm.tokenizer import char_tokenizer

CHECKPOINT_FILE = "pretrain.pt"


def ladder_path(cache: str, size: str) -> Path:
    return Path(cache) / "ladder" / size


def _settings(cfg: PretrainConfig) -> dict[str, Any]:
    """What makes two pretrained models the same (not where they are cached, nor how often they report)."""
    return cfg.model_dump(exclude={"cache", "tokens_per_iteration"})


def learning_rate(cfg: PretrainConfig, tokens: int) -> float:
    """Linear warm-up over `warmup` of the tokens, then a cosine down to 10% of the peak."""
    progress = tokens / cfg.tokens
    if progress < cfg.warmup:
        return cfg.lr * max(progress / cfg.warmup, 1e-3)
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - cfg.warmup) / (1 - cfg.warmup))))
    return cfg.lr * (0.1 + 0.9 * cosine)


class PretrainTrainable(tune.Trainable):
    def setup(self, config: dict[str, Any]) -> None:
        self.cfg = validate_settings(PretrainConfig, config, ("config",))
        self.path = ladder_path(self.cfg.cache, self.cfg.size)
        self.cached = lm_meta(self.path)
        if self.cached and self.cached.get("settings") != _settings(self.cfg):
            raise ValueError(f"config.cache: {self.path} holds a model pretrained with other settings "
                             f"({self.cached.get('settings')}); use another cache folder")
        torch.manual_seed(self.cfg.seed)
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.model = build_lm(self.cfg.size).to(self.device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)
        self.corpus = Corpus(char_tokenizer(), self.cfg.corpus, self.cfg.block, self.cfg.seed)
        self.blocks = 0  # blocks trained on so far: the next batch starts there

    def step(self) -> dict[str, Any]:
        if self.cached:
            return {**self.cached["figures"], "done": True}
        self.model.train()
        start, losses = time.perf_counter(), []
        goal = min(self.cfg.tokens, self.tokens + self.cfg.tokens_per_iteration)
        while self.tokens < goal:
            batch = torch.from_numpy(self.corpus.batch(self.blocks, self.cfg.batch_size)).to(self.device)
            for group in self.optimizer.param_groups:
                group["lr"] = learning_rate(self.cfg, self.tokens)
            loss = self.model(input_ids=batch, labels=batch).loss
            self.optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.optimizer.step()
            self.blocks += self.cfg.batch_size
            losses.append(loss.item())
        seconds = time.perf_counter() - start
        figures = {"lm_loss": float(np.mean(losses)), "tokens": self.tokens, "parameters": parameter_count(self.model),
                   "tokens_per_s": len(losses) * self.cfg.batch_size * self.cfg.block / seconds}
        done = self.tokens >= self.cfg.tokens
        if done:
            save_lm(self.model, self.path, {"settings": _settings(self.cfg), "figures": figures})
        return {**figures, "done": done}

    @property
    def tokens(self) -> int:
        return self.blocks * self.cfg.block

    def save_checkpoint(self, checkpoint_dir: str) -> None:
        torch.save({"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "blocks": self.blocks},
                   Path(checkpoint_dir) / CHECKPOINT_FILE)

    def load_checkpoint(self, checkpoint_dir: str) -> None:
        state = torch.load(Path(checkpoint_dir) / CHECKPOINT_FILE, map_location=self.device, weights_only=False)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.blocks = state["blocks"]

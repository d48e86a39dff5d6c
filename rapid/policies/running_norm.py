"""Observation normalization inside a module: running mean and variance as torch buffers.

Dactyl normalizes observations (joint velocities dwarf quaternions). Keeping the statistics
as buffers of the RLModule means they travel with its weights to every EnvRunner and into
every checkpoint, with no connector state to merge; they are updated from learner batches
only (OpenAI Baselines' PPO kept its running statistics in the model the same way).
"""

import torch
from torch import nn


class RunningNorm(nn.Module):
    """(x - mean) / std, clipped; `update` folds a batch into the statistics (Chan et al.'s merge)."""

    def __init__(self, size: int, clip: float = 5.0, epsilon: float = 1e-8) -> None:
        super().__init__()
        self.clip, self.epsilon = clip, epsilon
        self.register_buffer("mean", torch.zeros(size))
        self.register_buffer("var", torch.ones(size))
        self.register_buffer("count", torch.tensor(epsilon))

    @torch.no_grad()
    def update(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        """Fold in the rows of `x` (any leading shape) where `mask` is true (padding is left out)."""
        rows = x.reshape(-1, x.shape[-1])
        if mask is not None:
            rows = rows[mask.reshape(-1).bool()]
        if rows.shape[0] == 0:
            return
        batch_mean, batch_var, batch_count = rows.mean(0), rows.var(0, unbiased=False), rows.shape[0]
        delta, total = batch_mean - self.mean, self.count + batch_count
        self.mean += delta * batch_count / total
        self.var = (self.var * self.count + batch_var * batch_count + delta.square() * self.count * batch_count / total) / total
        self.count = total

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x - self.mean) / torch.sqrt(self.var + self.epsilon)).clamp(-self.clip, self.clip)

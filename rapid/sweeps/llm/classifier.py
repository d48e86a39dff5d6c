"""A causal LM as a binary classifier, as the released weak-to-strong code builds one: a head of
2 outputs, no bias, zero-initialized, on the hidden state of each text's last token; dropout off;
Adam with a cosine-annealed learning rate. Full fine-tuning trains the body too; a linear probe
freezes it (its features are computed once, then only the head trains).
"""

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from rapid.sweeps.llm.losses import Loss


class LastTokenClassifier(nn.Module):
    def __init__(self, lm: nn.Module) -> None:
        super().__init__()
        self.body = lm.base_model  # the transformer without its LM head
        self.head = nn.Linear(lm.config.hidden_size, 2, bias=False)
        nn.init.zeros_(self.head.weight)

    def features(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hidden = self.body(input_ids=ids, attention_mask=mask).last_hidden_state
        return hidden[torch.arange(len(ids), device=ids.device), mask.sum(dim=1) - 1]

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(ids, mask))


def encode(tokenizer: Any, texts: list[str] | tuple[str, ...], max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and attention mask (N, L), right-padded, each text after the tokenizer's bos token."""
    start = tokenizer.bos_token or ""
    batch = tokenizer([start + text for text in texts], padding=True, truncation=True, max_length=max_length,
                      add_special_tokens=False, return_tensors="pt")
    return batch["input_ids"], batch["attention_mask"]


def fit(model: LastTokenClassifier, ids: torch.Tensor, mask: torch.Tensor, targets: torch.Tensor, loss_fn: Loss,
        lr: float, batch_size: int, epochs: int, linear_probe: bool, seed: int) -> list[float]:
    """Train on (N, 2) soft targets; returns the loss of each step. The model stays in eval mode: dropout off."""
    device = next(model.parameters()).device
    model.eval()
    if linear_probe:
        model.body.requires_grad_(False)
        with torch.no_grad():
            inputs = torch.cat([model.features(ids[i:i + 256].to(device), mask[i:i + 256].to(device))
                                for i in range(0, len(ids), 256)])
        forward = lambda rows: model.head(inputs[rows])  # noqa: E731
    else:
        forward = lambda rows: model(ids[rows].to(device), mask[rows].to(device))  # noqa: E731
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(parameters, lr=lr)
    steps = epochs * math.ceil(len(ids) / batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    generator, losses = torch.Generator().manual_seed(seed), []
    for _ in range(epochs):
        order = torch.randperm(len(ids), generator=generator)
        for first in range(0, len(ids), batch_size):
            rows = order[first:first + batch_size]
            loss = loss_fn(forward(rows), targets[rows].to(device), len(losses) / steps)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
    return losses


@torch.no_grad()
def predict(model: LastTokenClassifier, ids: torch.Tensor, mask: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    """Class probabilities (N, 2): the soft labels a weak model gives."""
    device = next(model.parameters()).device
    model.eval()
    probs = [torch.softmax(model(ids[i:i + batch_size].to(device), mask[i:i + batch_size].to(device)).float(), dim=-1)
             for i in range(0, len(ids), batch_size)]
    return torch.cat(probs).cpu().numpy()


def one_hot(labels: np.ndarray) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.from_numpy(labels), 2).float()

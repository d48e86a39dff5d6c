"""The weak-to-strong losses, on logits (B, 2) and soft targets (B, 2), with `step_frac` the share of
training done: `xent` (naive: cross-entropy on the weak labels) and `logconf`, the auxiliary
confidence loss as the released code computes it (openai/weak-to-strong, `logconf_loss_fn`).

`logconf` mixes the weak label with the student's own hardened prediction:
target = (1 - c) weak + c hard(student). hard() thresholds the student's class-0 probability at
its batch quantile `mean(weak[:, 1])`, so the hardened labels keep the weak labels' class balance.
c = aux_coef once step_frac passes warmup_frac; before that the released code uses
c = step_frac * aux_coef (a ramp to warmup_frac * aux_coef, then a step up), which is kept here.
"""

from collections.abc import Callable
from functools import partial

import torch
from torch.nn import functional as F

from rapid.sweeps.llm.config import LOSSES

Loss = Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]


def xent(logits: torch.Tensor, targets: torch.Tensor, step_frac: float) -> torch.Tensor:
    return F.cross_entropy(logits.float(), targets.float())


def logconf(logits: torch.Tensor, targets: torch.Tensor, step_frac: float, aux_coef: float = 0.5,
            warmup_frac: float = 0.1) -> torch.Tensor:
    logits, targets = logits.float(), targets.float()
    coef = aux_coef * (1.0 if step_frac > warmup_frac else step_frac)
    probs = torch.softmax(logits, dim=-1)
    threshold = torch.quantile(probs[:, 0], targets.mean(dim=0)[1])
    hardened = torch.stack([probs[:, 0] >= threshold, probs[:, 0] < threshold], dim=1).float()
    return F.cross_entropy(logits, targets * (1 - coef) + hardened.detach() * coef)




def make_loss(name: str, aux_coef: float, warmup_frac: float) -> Loss:
    if name == "xent":
        return xent
    if name == "logconf":
        return partial(logconf, aux_coef=aux_coef, warmup_frac=warmup_frac)
    raise ValueError(f"unknown loss '{name}'; expected one of {', '.join(LOSSES)}")

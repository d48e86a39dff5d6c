"""The KL to a frozen reference policy, one term of the learner's loss.

KL(pi || reference) of the action distributions at every step of the train batch, masked as the
algorithm's own loss is, times coeff * decay ** iterations; an iteration is one train batch of env
steps, counted from the lifetime steps RLlib passes to each update (so a resumed run keeps its
place on the schedule).

The policy is recurrent and RLlib's learner sees episodes cut into sequences, each with the state
the policy had at its start (STATE_IN, stored while sampling). The reference runs over the same
sequences from that same state: the KL is then exactly 0 while the weights are equal, and
measures how the two differ on the context the policy acted in. Running the reference from its
own zero state at each sequence start instead would count its lost memory as a difference, a
KL above 0 even for equal weights. Without a checkpoint the reference is a frozen copy of the
module as the learner built it: the pretrained weights of a module that loads them itself.
"""

import copy
from pathlib import Path
from typing import Any

import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.learner import Learner
from ray.rllib.core.rl_module.rl_module import RLModule
from ray.rllib.utils.metrics import NUM_ENV_STEPS_SAMPLED_LIFETIME

from rapid.platform.errors import RapidError
from rapid.platform.initial_weights import MODULE_WEIGHTS
from rapid.platform.learner_extension import LossTerm


def reference_path(checkpoint: str, module_id: str) -> str:
    return f"{checkpoint.rstrip('/')}/{MODULE_WEIGHTS}/{module_id}"


def architecture_mismatch(module: torch.nn.Module, reference: torch.nn.Module) -> str | None:
    """Which keys or shapes differ between two modules' weights, or None."""
    mine, theirs = module.state_dict(), reference.state_dict()
    missing, extra = sorted(mine.keys() - theirs.keys()), sorted(theirs.keys() - mine.keys())
    shapes = [f"{k}: {tuple(theirs[k].shape)} where the policy has {tuple(mine[k].shape)}"
              for k in mine.keys() & theirs.keys() if mine[k].shape != theirs[k].shape]
    problems = [f"missing {', '.join(missing[:5])}"] if missing else []
    problems += [f"unexpected {', '.join(extra[:5])}"] if extra else []
    problems += sorted(shapes)[:5]
    return "; ".join(problems) or None


def load_reference(checkpoint: str, module_id: str, like: torch.nn.Module) -> RLModule:
    """The frozen reference module, refused (naming keys and shapes) unless its weights fit `like`."""
    path = reference_path(checkpoint, module_id)
    if "://" not in path and not Path(path).exists():
        raise RapidError(f"kl_to_reference.checkpoint: {checkpoint}: no {MODULE_WEIGHTS}/{module_id} in it")
    reference = RLModule.from_checkpoint(path)
    mismatch = architecture_mismatch(like, reference)
    if mismatch is not None:
        raise RapidError(f"kl_to_reference.checkpoint: {checkpoint}: its policy does not fit the job's module: {mismatch}")
    reference.eval()
    for parameter in reference.parameters():
        parameter.requires_grad_(False)
    return reference


def check_reference(settings: Any, env: Any, job: Any) -> str | None:
    """Before Ray starts: the reference fits the job's module (a checkpoint not yet made is checked when its stage ends)."""
    from rapid.platform.spec_file import checkable_here

    if settings.checkpoint is None or not checkable_here(settings.checkpoint):
        return None
    module = job.policy.module_spec(env.observation_space, env.action_space).build()
    try:
        load_reference(settings.checkpoint, "default_policy", module)
    except RapidError as err:
        return str(err)
    return None


class KLToReferenceLoss(LossTerm):
    name = "kl_to_reference"

    def __init__(self, settings: Any, job: Any) -> None:
        self.settings = settings
        self.references: dict[str, RLModule] = {}
        self.coefficient = settings.coeff

    def setup(self, learner: Learner) -> None:
        for module_id in learner.module.keys():
            if learner.should_module_be_updated(module_id):
                module = learner.module[module_id]
                if self.settings.checkpoint is None:
                    reference = copy.deepcopy(module).eval().requires_grad_(False)
                else:
                    reference = load_reference(self.settings.checkpoint, module_id, module)
                self.references[module_id] = reference.to(next(module.parameters()).device)

    def before_update(self, learner: Learner, timesteps: dict[str, Any]) -> None:
        iterations = timesteps.get(NUM_ENV_STEPS_SAMPLED_LIFETIME, 0) / learner.config.total_train_batch_size
        self.coefficient = self.settings.coeff * self.settings.decay ** iterations

    def __call__(self, learner: Learner, module_id: str, batch: dict[str, Any], fwd_out: dict[str, Any]) -> Any:
        kl = kl_to(learner.module[module_id], self.references[module_id], batch, fwd_out)
        learner.metrics.log_value((module_id, "kl_to_reference_coeff"), self.coefficient, window=1)
        return self.coefficient * kl


def kl_to(module: RLModule, reference: RLModule, batch: dict[str, Any], fwd_out: dict[str, Any]) -> torch.Tensor:
    """Mean KL(module || reference) over the batch's unmasked steps, the reference run on the same
    sequences from the same recurrent state."""
    with torch.no_grad():
        prior = reference.forward_train(batch)[Columns.ACTION_DIST_INPUTS]
    dist = module.get_train_action_dist_cls()
    kl = dist.from_logits(fwd_out[Columns.ACTION_DIST_INPUTS]).kl(dist.from_logits(prior))
    mask = batch.get(Columns.LOSS_MASK)
    return kl[mask].mean() if mask is not None else kl.mean()

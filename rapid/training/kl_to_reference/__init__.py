"""`kl_to_reference:` a KL penalty that holds the trained policy near a frozen reference policy,
as VPT's RL fine-tuning holds it near the behavioural-cloning policy (coefficient 0.2, decaying by
0.9995 per iteration). loss.py is the learner's loss term; any algorithm whose learner minimizes
one loss (PPO, APPO, IMPALA) takes it.
"""

from typing import Any

from pydantic import Field

from rapid.platform.plugins import Section, Strict
from rapid.platform.registry import SECTIONS, import_attr


class KLToReference(Strict):
    """The section's settings."""

    checkpoint: str | None = Field(
        None, description="the RLlib (or vpt_bc) checkpoint of the frozen reference policy; null: the module's own weights as "
        "built (a module that loads pretrained weights itself, as vpt_released does)"
    )
    coeff: float = Field(0.2, ge=0, description="the KL's weight at the start (VPT: 0.2)")
    decay: float = Field(0.9995, gt=0, le=1, description="the weight's factor per iteration (VPT: 0.9995)")


def _check(settings: KLToReference, job: Any) -> None:
    """One policy (its reference is the checkpoint's default_policy); without a checkpoint the
    reference is the module as built, before `init_checkpoint` loads into it."""
    if job.multi_agent is not None:
        raise ValueError("holds one policy to its reference; a multi_agent job is not supported")
    if settings.checkpoint is None and job.policy.init_checkpoint:
        raise ValueError("checkpoint: name the reference's checkpoint; without one the reference would be the weights "
                         "the module is built with, which init_checkpoint then replaces")


SECTIONS.add(
    "kl_to_reference",
    lambda: Section(
        schema=KLToReference,
        description="a decaying KL penalty to a frozen reference policy (VPT's fine-tuning)",
        check=_check,
        check_env=lambda *args: import_attr("rapid.training.kl_to_reference.loss", "check_reference")(*args),
        loss_term=lambda settings, job: import_attr("rapid.training.kl_to_reference.loss", "KLToReferenceLoss")(settings, job),
    ),
    "kl_to_reference: {checkpoint, coeff, decay}: VPT's KL to the pretrained policy, decaying per iteration",
)

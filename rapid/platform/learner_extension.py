"""Extra loss terms for any algorithm's Learner, without a fork of its loss.

A workload that needs its learner to minimize one more thing (a KL to a frozen reference
policy, an auxiliary prediction) writes a `LossTerm`; its section's `loss_term` hook returns
one. `with_loss_terms` subclasses the algorithm's own Learner class: its
`compute_loss_for_module` adds each term, and logs it under the module as `<term name>`.
"""

import inspect
from typing import Any

from ray.rllib.core.learner.learner import Learner
from ray.rllib.core.learner.torch.torch_learner import TorchLearner

from rapid.platform.errors import RapidError


class LossTerm:
    """One extra term of every trained module's loss. `setup` runs once the learner is built
    (load a frozen reference, say); `before_update` once per update, before its minibatches (with
    the lifetime step counts RLlib passes: a schedule reads them there); `__call__` returns a
    scalar tensor to add."""

    name = "extra_loss"

    def setup(self, learner: Learner) -> None:
        """Prepare what the term needs on the learner (nothing by default)."""

    def before_update(self, learner: Learner, timesteps: dict[str, Any]) -> None:
        """Follow a schedule (nothing by default)."""

    def __call__(self, learner: Learner, module_id: str, batch: dict[str, Any], fwd_out: dict[str, Any]) -> Any:
        raise NotImplementedError


def own_gradients(learner_class: type[Learner]) -> str | None:
    """The class that computes gradients from its own per-optimizer losses, not from the one loss
    `compute_loss_for_module` returns (an actor-critic with an optimizer per network), or None."""
    for klass in learner_class.__mro__:
        if klass is TorchLearner:
            return None
        method = klass.__dict__.get("compute_gradients")
        if method is not None and "super().compute_gradients" not in inspect.getsource(method):
            return klass.__name__
    return None


def with_loss_terms(learner_class: type[Learner], terms: list[LossTerm]) -> type[Learner]:
    """`learner_class` whose loss for each module also holds `terms`; a RapidError for a learner
    that would ignore them."""
    splitter = own_gradients(learner_class)
    if splitter is not None:
        names = ", ".join(term.name for term in terms)
        raise RapidError(
            f"loss terms ({names}) need a learner that minimizes the one loss of compute_loss_for_module; "
            f"{splitter} computes its gradients from a loss per optimizer (PPO, APPO and IMPALA take them)"
        )

    class LearnerWithTerms(learner_class):  # type: ignore[valid-type, misc]
        def build(self) -> None:
            super().build()
            for term in terms:
                term.setup(self)

        def before_gradient_based_update(self, *, timesteps: dict[str, Any]) -> None:
            super().before_gradient_based_update(timesteps=timesteps)
            for term in terms:
                term.before_update(self, timesteps)

        def compute_loss_for_module(self, *, module_id: str, config: Any, batch: dict[str, Any], fwd_out: dict[str, Any]) -> Any:
            loss = super().compute_loss_for_module(module_id=module_id, config=config, batch=batch, fwd_out=fwd_out)
            for term in terms:
                value = term(self, module_id, batch, fwd_out)
                self.metrics.log_value((module_id, term.name), value.detach(), window=1)
                loss = loss + value
            return loss

    LearnerWithTerms.__name__ = LearnerWithTerms.__qualname__ = f"{learner_class.__name__}WithTerms"
    return LearnerWithTerms

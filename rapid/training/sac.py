"""RLlib's SAC with two additions: checkpoints that carry the entropy temperature, and an
optional clip of the target critics' estimates to the range returns can take.

RLlib 2.60's SACLearner keeps log(alpha) per module as a bare tensor beside the RLModule, and
`Learner.get_state` saves the module, the optimizers' moments and the metrics, not that
tensor: a resumed SAC run started again from `initial_alpha` (measured on FetchPush: 5.7e-4
at the checkpoint, 0.34 one iteration after the resume) and spent 13k env steps exploring
its way back down. The learner below adds the temperature to its state.

With sparse rewards in [-1, 0] no return is below -1/(1-gamma), yet a bootstrapped critic can
drift past that (measured on FetchPush: the batch's smallest Q estimate averaged -54 where no
return is below -50). HER's DDPG clips its critic's targets to the returns' range (Andrychowicz
et al. 2017). `training: {target_q_range: [low, high]}` clips the target critics' estimate of
the next state's Q to [low, high] before it bootstraps. SAC's Q also holds the entropy bonuses
to come, which lift it above the returns' top while alpha is large; `.inf` leaves a side open.
"""

from collections.abc import Collection, Sequence
from typing import Any

from ray.rllib.algorithms.algorithm_config import NotProvided
from ray.rllib.algorithms.sac import SAC, SACConfig
from ray.rllib.algorithms.sac.sac_learner import QF_TARGET_NEXT
from ray.rllib.algorithms.sac.torch.sac_torch_learner import SACTorchLearner
from ray.rllib.utils.framework import try_import_torch
from ray.rllib.utils.typing import ModuleID, StateDict, TensorType

torch, _ = try_import_torch()

LOG_ALPHA = "log_alpha"


class RapidSACLearner(SACTorchLearner):
    """SAC's torch learner with each module's log(alpha) in `get_state`/`set_state` and the
    config's `target_q_range` applied to the target critics' estimates."""

    def compute_loss_for_module(
        self, *, module_id: ModuleID, config: "RapidSACConfig", batch: dict[str, Any], fwd_out: dict[str, TensorType]
    ) -> TensorType:
        if config.target_q_range is not None:
            fwd_out = {**fwd_out, QF_TARGET_NEXT: fwd_out[QF_TARGET_NEXT].clamp(*config.target_q_range)}
        return super().compute_loss_for_module(module_id=module_id, config=config, batch=batch, fwd_out=fwd_out)

    def get_state(
        self,
        components: str | Collection[str] | None = None,
        *,
        not_components: str | Collection[str] | None = None,
        **kwargs: Any,
    ) -> StateDict:
        state = super().get_state(components, not_components=not_components, **kwargs)
        if self._check_component(LOG_ALPHA, components, not_components):
            state[LOG_ALPHA] = {mid: float(self.curr_log_alpha[mid].detach()[0]) for mid in self.module.keys()}
        return state

    def set_state(self, state: StateDict) -> None:
        """Writes into the existing tensor: the alpha optimizer holds that tensor, not a copy."""
        super().set_state(state)
        with torch.no_grad():
            for mid, value in state.get(LOG_ALPHA, {}).items():
                if mid in self.module.keys():
                    self.curr_log_alpha[mid].fill_(value)


class RapidSAC(SAC):
    """RLlib's SAC whose default config is `RapidSACConfig`: RLlib rebuilds a config from its
    algorithm's default before it validates the resources a run asks for."""

    @classmethod
    def get_default_config(cls) -> "RapidSACConfig":
        return RapidSACConfig(algo_class=cls)


class RapidSACConfig(SACConfig):
    """SACConfig whose default learner is `RapidSACLearner`, with its `target_q_range` key."""

    def __init__(self, algo_class: type | None = None) -> None:
        super().__init__(algo_class=algo_class or RapidSAC)
        self.target_q_range: Sequence[float] | None = None

    def training(self, *, target_q_range: Sequence[float] | None = NotProvided, **kwargs: Any) -> "RapidSACConfig":
        """`target_q_range`: [low, high] the target critics' estimates are clipped to; None: no clip."""
        super().training(**kwargs)
        if target_q_range is not NotProvided:
            self.target_q_range = target_q_range
        return self

    def validate(self) -> None:
        super().validate()
        bounds = self.target_q_range
        if bounds is not None and not (
            isinstance(bounds, list | tuple)
            and len(bounds) == 2
            and all(isinstance(b, int | float) and not isinstance(b, bool) for b in bounds)
            and bounds[0] < bounds[1]
        ):
            self._value_error(f"`target_q_range` must be [low, high] with two numbers, low < high; got {bounds!r}")

    def get_default_learner_class(self) -> type[SACTorchLearner]:
        return RapidSACLearner

"""RLlib's SAC whose checkpoints carry the entropy temperature, so a resumed run keeps its alpha.

RLlib 2.60's SACLearner keeps log(alpha) per module as a bare tensor beside the RLModule, and
`Learner.get_state` saves the module, the optimizers' moments and the metrics, not that
tensor: a resumed SAC run started again from `initial_alpha` (measured on FetchPush: 5.7e-4
at the checkpoint, 0.34 one iteration after the resume) and spent 13k env steps exploring
its way back down. The learner below adds the temperature to its state; the config makes it
every SAC job's learner.
"""

from collections.abc import Collection
from typing import Any

from ray.rllib.algorithms.sac import SACConfig
from ray.rllib.algorithms.sac.torch.sac_torch_learner import SACTorchLearner
from ray.rllib.utils.framework import try_import_torch
from ray.rllib.utils.typing import StateDict

torch, _ = try_import_torch()

LOG_ALPHA = "log_alpha"


class ResumableSACLearner(SACTorchLearner):
    """SAC's torch learner with each module's log(alpha) in `get_state`/`set_state`."""

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


class ResumableSACConfig(SACConfig):
    """SACConfig whose default learner is `ResumableSACLearner`."""

    def get_default_learner_class(self) -> type[SACTorchLearner]:
        return ResumableSACLearner

"""Fixed partners for the social games: policies that never learn, to measure learned ones against.

They are RLModules, so a job maps agents to them like to any policy (and leaves them out of
`policies_to_train`), and an evaluation swaps them in for a partner:
- `always_cooperate`, `always_defect`: action 0 or 1 of the Prisoner's Dilemma games;
- `constant_action`: the model_config's `action` at every step (for Prisoner's Buddy, a partner
  that always picks the same agent);
- `tit_for_tat`: cooperates first, then does what its partner did last; it reads the partner's
  previous action from its observation, entry `partner_index` of `observation_key` (the
  Prisoner's Dilemma's [own, partner's, round] under RUSP's `obs` key by default; null for an
  observation that is not a Dict). -1, no action yet, counts as cooperation.
Their actions are given as actions, never sampled, so exploring and acting greedily agree.
"""

from typing import Any

import numpy as np
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModule
from ray.rllib.utils.annotations import override

COOPERATE, DEFECT = 0, 1


class FixedPartner(RLModule):
    """An RLModule without weights whose actions are `choose(observations)`.

    It is a framework-free RLModule, as RLlib's own scripted opponents are: a torch Learner builds
    optimizers only for torch modules, so it leaves these alone, and the EnvRunner takes the
    actions as given instead of sampling them.
    """

    def choose(self, obs: Any) -> np.ndarray:
        """(batch...) int64 actions for a batch of observations (numpy arrays or CPU tensors)."""
        raise NotImplementedError

    @override(RLModule)
    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {Columns.ACTIONS: self.choose(batch[Columns.OBS])}


def _leading_shape(obs: Any) -> tuple[int, ...]:
    leaf = next(iter(obs.values())) if isinstance(obs, dict) else obs
    return tuple(leaf.shape[:-1])


class ConstantAction(FixedPartner):
    """The same action at every step: model_config `action`, an int or, for a MultiDiscrete
    action space, a list (Prisoner's Buddy's [0, 0]: always name the next agent, never sit out)."""

    default_action: int | None = None

    def choose(self, obs: Any) -> np.ndarray:
        action = np.asarray((self.model_config or {}).get("action", self.default_action), dtype=np.int64)
        return np.broadcast_to(action, _leading_shape(obs) + action.shape).copy()


class AlwaysCooperate(ConstantAction):
    default_action = COOPERATE


class AlwaysDefect(ConstantAction):
    default_action = DEFECT


class TitForTat(FixedPartner):
    def choose(self, obs: Any) -> np.ndarray:
        config = self.model_config or {}
        key, index = config.get("observation_key", "obs"), int(config.get("partner_index", 1))
        seen = np.asarray(obs[key] if key is not None else obs)
        return (seen[..., index] == DEFECT).astype(np.int64)

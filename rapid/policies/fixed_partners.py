"""Fixed partners for the social games: policies that never learn, to measure learned ones against.

They are RLModules, so a job maps agents to them like to any policy (and leaves them out of
`policies_to_train`), and an evaluation swaps them in for a partner:
- `always_cooperate`, `always_defect`: action 0 or 1 of the Prisoner's Dilemma games;
- `constant_action`: the model_config's `action` at every step (for Prisoner's Buddy, a partner
  that always picks the same agent);
- `tit_for_tat`: cooperates first, then does what its partner did last; it reads the partner's
  previous action from its observation, entry `partner_index` of `observation_key` (the
  Prisoner's Dilemma's [own, partner's, round] under RUSP's `obs` key by default; null for an
  observation that is not a Dict). -1, no action yet, counts as cooperation;
- `indirect_tit_for_tat`: tit-for-tat among several agents (indirect reciprocity): toward each
  other agent it repeats what that agent last did in a round against it, and cooperates with one
  it has not played yet (the original's scripted partner remembers each opponent so).
Their actions are given as actions, never sampled, so exploring and acting greedily agree.
"""

from typing import Any

import numpy as np
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModule
from ray.rllib.utils.annotations import override

from rapid.envs.social.indirect_reciprocity import OTHER_SIZE, SELF_SIZE

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


class IndirectTitForTat(FixedPartner):
    """Per-opponent tit-for-tat on indirect reciprocity's observation (its layout in
    indirect_reciprocity.py), read under `observation_key` as TitForTat reads its own. Its memory,
    the last action each other agent played against it (0 before they meet), is the module's
    state, which RLlib carries from step to step of each episode as it does an LSTM's."""

    def _key(self) -> str | None:
        return (self.model_config or {}).get("observation_key", "obs")

    @override(RLModule)
    def get_initial_state(self) -> dict[str, np.ndarray]:
        key = self._key()
        size = (self.observation_space[key] if key is not None else self.observation_space).shape[0]
        return {"memory": np.zeros((size - SELF_SIZE) // OTHER_SIZE, dtype=np.float32)}

    @override(RLModule)
    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """A (B, 1, ...) batch, as RLlib gives a stateful module while acting: (B, 1) actions and the new memory."""
        key = self._key()
        seen = np.asarray(batch[Columns.OBS][key] if key is not None else batch[Columns.OBS])[:, 0]
        memory = np.asarray(batch[Columns.STATE_IN]["memory"], dtype=np.float32)
        others = seen[:, SELF_SIZE:].reshape(len(seen), -1, OTHER_SIZE)
        # An agent that acted last round (action >= 0) while this one did too played against it.
        met = (seen[:, 1:2] == 1) & (others[..., 0] >= 0)
        memory = np.where(met, others[..., 0], memory)
        opponent = others[..., 1] == 1  # who plays now; the action only counts when this agent plays too
        action = ((memory * opponent).sum(axis=1) > 0.5).astype(np.int64)
        return {Columns.ACTIONS: action[:, None], Columns.STATE_OUT: {"memory": memory}}

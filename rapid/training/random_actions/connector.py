"""A share of exploring steps takes a uniform random action, as HER's DDPG explores.

Andrychowicz et al. (2017) replace 30% of the actor's actions with uniform random ones. SAC
explores by its entropy alone, and its automatic temperature lowers that as the policy
settles: on FetchPush such a policy can stop touching the block, and then every relabelled
goal is where the untouched block already was. The random action is what the env steps with
and what the replay buffer stores, so the off-policy learner learns from it. Deterministic
evaluation (explore=False) never gets one.
"""

from typing import Any

import gymnasium as gym
import numpy as np
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.core.columns import Columns


class RandomActions(ConnectorV2):
    """Module-to-env piece: with probability `share` an exploring action becomes a uniform random one.

    It runs before RLlib's NormalizeAndClipActions, where a Box action of an algorithm with
    `normalize_actions` lies in [-1, 1] (`normalized`); otherwise a Box draw is uniform over its
    bounds, a Discrete one over its actions. Draws use numpy's global generator, which RLlib's
    EnvRunner seeds from the job's seed.
    """

    def __init__(
        self,
        input_observation_space: gym.Space | None = None,
        input_action_space: gym.Space | None = None,
        *,
        share: float,
        normalized: bool,
        **kwargs: Any,
    ) -> None:
        super().__init__(input_observation_space, input_action_space, **kwargs)
        self.share = share
        self.normalized = normalized

    def __call__(self, *, batch: dict[str, Any], explore: bool | None = None, **kwargs: Any) -> dict[str, Any]:
        if explore:
            self.foreach_batch_item_change_in_place(batch, Columns.ACTIONS, self._maybe_random)
        return batch

    def _maybe_random(self, action: Any, *ids: Any) -> Any:
        if np.random.random() >= self.share:
            return action
        space = self.input_action_space
        if isinstance(space, gym.spaces.Discrete):
            return space.start + np.random.randint(space.n)
        low, high = (-1.0, 1.0) if self.normalized else (space.low, space.high)
        return np.random.uniform(low, high, size=space.shape).astype(space.dtype)

"""RLlib's default SAC module with running observation normalization clipped to [-5, 5].

HER's networks see normalized observations and goals (Andrychowicz et al. 2017; the Fetch
baselines clip to [-5, 5]). The statistics are module buffers (rapid.policies.running_norm):
they travel with the weights to every EnvRunner and into every checkpoint, and only learner
batches update them, relabelled goals included. Everything else is RLlib's
DefaultSACTorchRLModule, built from `model_config` (fcnet_hiddens, ...) by its catalog.
"""

from typing import Any

import gymnasium as gym
from ray.rllib.algorithms.sac.torch.default_sac_torch_rl_module import DefaultSACTorchRLModule
from ray.rllib.core.columns import Columns

from rapid.policies.running_norm import RunningNorm


class NormalizedSACModule(DefaultSACTorchRLModule):
    """Normalizes OBS (and NEXT_OBS in training) before RLlib's SAC networks see them."""

    def setup(self) -> None:
        if not isinstance(self.observation_space, gym.spaces.Box) or len(self.observation_space.shape) != 1:
            raise ValueError(f"normalized_sac needs flat Box observations (a vector), got {self.observation_space}")
        super().setup()
        self.obs_norm = RunningNorm(self.observation_space.shape[0])

    def _forward_inference(self, batch: dict[str, Any]) -> dict[str, Any]:
        return super()._forward_inference({**batch, Columns.OBS: self.obs_norm(batch[Columns.OBS])})

    def _forward_train(self, batch: dict[str, Any]) -> dict[str, Any]:
        self.obs_norm.update(batch[Columns.OBS])
        normalized = {key: self.obs_norm(batch[key]) for key in (Columns.OBS, Columns.NEXT_OBS)}
        return super()._forward_train({**batch, **normalized})

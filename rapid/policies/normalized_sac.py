"""RLlib's default SAC module with running observation normalization clipped to [-5, 5], the
critic of HER's and SAC's papers, and deterministic actions that are the squashed mean.

HER's networks see normalized observations and goals (Andrychowicz et al. 2017; the Fetch
baselines clip to [-5, 5]). The statistics are module buffers (rapid.policies.running_norm):
they travel with the weights to every EnvRunner and into every checkpoint, and only learner
batches update them, relabelled goals included.

The critic is one MLP (`fcnet_hiddens`) over observation and action concatenated, as in the
papers and stable-baselines3. RLlib's SAC catalog gives each Q network two streams (observation
and action, each `fcnet_hiddens` deep) and a fusion net: two and a half times the layers, and
about three times the update time on a CPU.

A deterministic action (evaluation with `explore: false`) is tanh of the policy's mean, the
mode of the squashed Gaussian SAC trains. RLlib 2.60's TorchSquashedGaussian hands the
unsquashed mean to its deterministic distribution, and the env runner clips it to the action
bounds: evaluation then acted with clip(mean), larger in every dimension than what training
sampled around.

Everything else is RLlib's DefaultSACTorchRLModule, built from `model_config` by its catalog.
"""

import dataclasses
from typing import Any

import gymnasium as gym
import torch
from ray.rllib.algorithms.sac.sac_catalog import SACCatalog
from ray.rllib.algorithms.sac.torch.default_sac_torch_rl_module import DefaultSACTorchRLModule
from ray.rllib.core.columns import Columns
from ray.rllib.core.distribution.torch.torch_distribution import TorchDeterministic, TorchSquashedGaussian
from ray.rllib.core.models.base import Encoder
from ray.rllib.core.models.torch.encoder import TorchMLPEncoder

from rapid.policies.running_norm import RunningNorm


class ObservationActionEncoder(TorchMLPEncoder):
    """An MLP over observation and action concatenated: a Q network's body."""

    def _forward(self, inputs: dict, **kwargs: Any) -> dict:
        return super()._forward({Columns.OBS: torch.cat([inputs[Columns.OBS], inputs[Columns.ACTIONS]], dim=-1)})


class SquashedMeanGaussian(TorchSquashedGaussian):
    """RLlib's squashed Gaussian whose deterministic action is the squashed mean, inside the bounds."""

    def to_deterministic(self) -> TorchDeterministic:
        return TorchDeterministic(loc=self._squash(self.loc))


class PapersSACCatalog(SACCatalog):
    """SAC's catalog whose continuous-action Q networks take observation and action in one MLP,
    the same layers as the policy's encoder, and whose continuous actions act deterministically
    with the squashed mean."""

    def get_action_dist_cls(self, framework: str) -> type:
        if isinstance(self.action_space, gym.spaces.Box):
            return SquashedMeanGaussian
        return super().get_action_dist_cls(framework)

    def _build_qf_encoder_continuous(self, framework: str) -> Encoder:
        inputs = self._encoder_config.input_dims[0] + self.action_space.shape[0]
        return ObservationActionEncoder(dataclasses.replace(self._encoder_config, input_dims=(inputs,)))


class NormalizedSACModule(DefaultSACTorchRLModule):
    """Normalizes OBS (and NEXT_OBS in training) before RLlib's SAC networks see them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{**kwargs, "catalog_class": kwargs.get("catalog_class") or PapersSACCatalog})

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

"""Asymmetric actor-critic for PPO: an LSTM actor on what the agent may know, an MLP critic on more.

Observations are a Dict of 1-D Box entries, never flattened; `actor_keys` name the actor's inputs
and `critic_keys` the critic's, each joined in the order given. Dactyl's defaults:
- "actor": what the robot senses (noisy); the only input of the policy.
- "critic": the privileged simulator state; the only input of the value function.
RUSP's social games give the actor ["obs", "rusp"] (the game and its noisy view of the
relationships) and the critic ["obs", "rusp_critic"] (the true ones).

The critic is built only where it trains (Learners): EnvRunners build the module with
`inference_only=True`, so privileged-state weights are neither built nor sent there.
"""

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.distribution.torch.torch_distribution import (
    TorchCategorical,
    TorchDiagGaussian,
    TorchDistribution,
    TorchMultiCategorical,
)
from ray.rllib.core.rl_module.apis import InferenceOnlyAPI, ValueFunctionAPI
from ray.rllib.core.rl_module.torch import TorchRLModule
from ray.rllib.models.utils import get_activation_fn
from ray.rllib.utils.annotations import override
from torch import nn

from rapid.policies.running_norm import RunningNorm


@dataclass(frozen=True)
class AsymmetricLSTMConfig:
    """The module's model_config: laptop-sized defaults; a job's `paper` profile sets the paper's sizes."""

    actor_hidden: list[int] = field(default_factory=lambda: [256])
    """Widths of the actor's FC layers before the LSTM (paper: [1024])."""
    lstm_size: int = 128
    """LSTM cell size, and so the size of each recurrent state h and c (paper: 512)."""
    critic_hidden: list[int] = field(default_factory=lambda: [256, 256])
    """Widths of the critic MLP on the privileged state."""
    activation: str = "relu"
    """Activation after every FC layer of actor and critic, by RLlib name (relu, tanh, elu, silu)."""
    max_seq_len: int = 20
    """Learner sequence length T: RLlib cuts episodes into zero-padded chunks this long (RLlib's own default)."""
    normalize_observations: bool = True
    """Running mean/std normalization of both observation parts, clipped to [-5, 5] (Dactyl normalizes)."""
    actor_keys: list[str] = field(default_factory=lambda: ["actor"])
    """Observation entries the actor reads, joined in this order."""
    critic_keys: list[str] = field(default_factory=lambda: ["critic"])
    """Observation entries the critic reads, joined in this order."""


MODEL_CONFIG_KEYS = frozenset(f.name for f in fields(AsymmetricLSTMConfig))
"""Keys a spec may set; the module ignores others, because RLlib adds its own (PPO adds vf_share_layers)."""


def _obs_width(space: gym.Space, keys: list[str]) -> int:
    """Width of the named entries of the Dict observation joined; each must be a 1-D Box."""
    if not isinstance(space, gym.spaces.Dict) or not set(keys) <= set(space.spaces):
        raise ValueError(f"AsymmetricLSTMModule needs a Dict observation space with the keys {keys} (not flattened), got {space}")
    for key in keys:
        part = space[key]
        if not isinstance(part, gym.spaces.Box) or len(part.shape) != 1:
            raise ValueError(f"observation '{key}' must be a 1-D Box, got {part}")
    return sum(int(space[key].shape[0]) for key in keys)


def _joined(obs: dict[str, torch.Tensor], keys: list[str]) -> torch.Tensor:
    return obs[keys[0]] if len(keys) == 1 else torch.cat([obs[key] for key in keys], dim=-1)


def _mlp(in_size: int, widths: list[int], activation: str) -> tuple[nn.Sequential, int]:
    """FC layers, each followed by the activation; returns the stack and its output width."""
    act = get_activation_fn(activation, framework="torch")
    layers: list[nn.Module] = []
    for width in widths:
        layers += [nn.Linear(in_size, width), act()]
        in_size = width
    return nn.Sequential(*layers), in_size


def _action_dist(space: gym.Space) -> tuple[type[TorchDistribution], int]:
    """RLlib's distribution class for the action space, and the number of inputs it takes from the head."""
    if isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
        # The head gives the mean; log_std is appended from a parameter (see the class docstring).
        return TorchDiagGaussian, int(space.shape[0])
    if isinstance(space, gym.spaces.Discrete):
        return TorchCategorical, int(space.n)
    if isinstance(space, gym.spaces.MultiDiscrete) and space.nvec.ndim == 1:
        input_lens = [int(n) for n in space.nvec]
        return TorchMultiCategorical.get_partial_dist_cls(space=space, input_lens=input_lens), sum(input_lens)
    raise ValueError(f"AsymmetricLSTMModule supports 1-D Box, Discrete and 1-D MultiDiscrete actions, got {space}")


class AsymmetricLSTMModule(TorchRLModule, ValueFunctionAPI, InferenceOnlyAPI):
    """Actor: FC -> LSTM -> action head on the actor's entries; critic: MLP on the critic's.

    Box actions get a diagonal Gaussian whose log_std is a learned, state-independent
    parameter (one per action dim), as in OpenAI Baselines' and CleanRL's PPO: exploration
    noise then cannot collapse or blow up in states the policy has rarely seen.
    Discrete actions get logits, MultiDiscrete per-dimension logits.
    """

    @override(TorchRLModule)
    def setup(self) -> None:
        # RLlib's connectors read max_seq_len from the module's own model_config, so the
        # defaults are written back there, not only applied here.
        self.model_config = {**asdict(AsymmetricLSTMConfig()), **(self.model_config or {})}
        cfg = AsymmetricLSTMConfig(**{k: self.model_config[k] for k in MODEL_CONFIG_KEYS})
        self.lstm_size = cfg.lstm_size
        self.actor_keys, self.critic_keys = list(cfg.actor_keys), list(cfg.critic_keys)

        actor_size = _obs_width(self.observation_space, self.actor_keys)
        self.actor_norm = RunningNorm(actor_size) if cfg.normalize_observations else nn.Identity()
        self.actor_encoder, width = _mlp(actor_size, cfg.actor_hidden, cfg.activation)
        self.lstm = nn.LSTM(width, cfg.lstm_size, batch_first=True)
        # Chosen here, next to the head it sizes: TorchRLModule's fallback knows only Box and
        # Discrete, and a catalog (none by default in 2.60's PPO) would not build for Dict obs.
        self.action_dist_cls, head_size = _action_dist(self.action_space)
        self.pi_head = nn.Linear(cfg.lstm_size, head_size)
        self.log_std = nn.Parameter(torch.zeros(head_size)) if self.action_dist_cls is TorchDiagGaussian else None
        # A near-zero first policy leaves early exploration to log_std (CleanRL's 0.01 init).
        nn.init.orthogonal_(self.pi_head.weight, gain=0.01)
        nn.init.zeros_(self.pi_head.bias)

        if not self.inference_only:
            critic_size = _obs_width(self.observation_space, self.critic_keys)
            self.critic_norm = RunningNorm(critic_size) if cfg.normalize_observations else nn.Identity()
            critic_body, width = _mlp(critic_size, cfg.critic_hidden, cfg.activation)
            self.critic = nn.Sequential(critic_body, nn.Linear(width, 1))

    @override(TorchRLModule)
    def get_initial_state(self) -> dict[str, np.ndarray]:
        return {
            "h": np.zeros(self.lstm_size, dtype=np.float32),
            "c": np.zeros(self.lstm_size, dtype=np.float32),
        }

    @override(TorchRLModule)
    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Learner batches also update the normalization statistics (padding left out)."""
        if isinstance(self.actor_norm, RunningNorm):
            mask = batch.get(Columns.LOSS_MASK)
            self.actor_norm.update(_joined(batch[Columns.OBS], self.actor_keys), mask)
            self.critic_norm.update(_joined(batch[Columns.OBS], self.critic_keys), mask)
        return self._forward(batch, **kwargs)

    @override(TorchRLModule)
    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Policy on a (B, T, ...) batch; T is 1 on EnvRunners and max_seq_len in the Learner."""
        features = self.actor_encoder(self.actor_norm(_joined(batch[Columns.OBS], self.actor_keys)))
        state_in = batch[Columns.STATE_IN]
        # nn.LSTM wants a leading layer axis on its state: (1, B, lstm_size).
        out, (h, c) = self.lstm(features, (state_in["h"].unsqueeze(0), state_in["c"].unsqueeze(0)))
        dist_inputs = self.pi_head(out)
        if self.log_std is not None:
            dist_inputs = torch.cat([dist_inputs, self.log_std.expand_as(dist_inputs)], dim=-1)
        return {
            Columns.ACTION_DIST_INPUTS: dist_inputs,
            Columns.STATE_OUT: {"h": h.squeeze(0), "c": c.squeeze(0)},
        }

    @override(ValueFunctionAPI)
    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        """Values of shape (B, T), or (B,) for a batch without a time axis.

        `embeddings` is ignored: the critic shares nothing with the actor, whose features
        come from the noisy observation only.
        """
        return self.critic(self.critic_norm(_joined(batch[Columns.OBS], self.critic_keys))).squeeze(-1)

    @override(InferenceOnlyAPI)
    def get_non_inference_attributes(self) -> list[str]:
        return ["critic", "critic_norm"]

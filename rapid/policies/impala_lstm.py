"""A goal-conditioned pixel policy for PPO: IMPALA CNN on the image, an embedding of the target item,
an MLP on the inventory, one LSTM, policy and value heads (Minecraft Simon Says on Crafter).

Observations are a Dict, never flattened (their keys are model_config's):
- `image`: (H, W, 3) uint8 pixels, as the env renders them; scaled to [0, 1] and turned
  channels-first here, so episodes store bytes, not floats;
- `target`: a one-hot (n_tasks,) of the item to obtain; a bias-free Linear on it is an embedding table;
- `inventory`: (k,) item counts, squashed by log1p so that 50 stones do not drown one pickaxe.
`target_key` or `inventory_key` null leaves that input out: with both null the policy sees pixels
only, as VPT's does (Crafter draws the inventory into the frame).
"""

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from pydantic import Field, PositiveInt
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis import ValueFunctionAPI
from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
from ray.rllib.core.rl_module.torch import TorchRLModule
from ray.rllib.utils.annotations import override
from torch import nn

from rapid.platform.plugins import Strict, validate_settings
from rapid.policies.impala_cnn import ImpalaCNN


class ImpalaLSTMConfig(Strict):
    """The module's model_config; the network sizes are the IMPALA paper's deep network."""

    image_key: str = Field("image", description="observation key of the (H, W, 3) uint8 image")
    target_key: str | None = Field("target", description="observation key of the one-hot target item (null: none)")
    inventory_key: str | None = Field("inventory", description="observation key of the inventory counts (null: none)")
    cnn_channels: list[PositiveInt] = Field(
        [16, 32, 32], min_length=1, description="channels of each IMPALA CNN stage, which halves the image (paper: 16, 32, 32)"
    )
    cnn_out: int = Field(256, gt=0, description="width of the CNN's final linear layer (paper: 256)")
    target_embedding: int = Field(32, gt=0, description="width of the target item's embedding")
    inventory_hidden: int = Field(64, gt=0, description="width of the one-layer MLP on the squashed inventory")
    lstm_cell_size: int = Field(256, gt=0, description="LSTM size, and so of each recurrent state h and c (paper: 256)")
    max_seq_len: int = Field(20, gt=0, description="learner sequence length T: RLlib cuts episodes into chunks this long")


MODEL_CONFIG_KEYS = frozenset(ImpalaLSTMConfig.model_fields)
"""Keys a spec may set. RLlib adds its own (PPO adds vf_share_layers), which the module ignores."""
_RLLIB_KEYS = frozenset(DefaultModelConfig.__dataclass_fields__) - MODEL_CONFIG_KEYS


def _observation_sizes(space: gym.Space, cfg: ImpalaLSTMConfig) -> tuple[tuple[int, int, int], int, int]:
    """The image's (C, H, W), the number of targets and of inventory entries (0 for an input left
    out); a wrong space is an error."""
    keys = [key for key in (cfg.image_key, cfg.target_key, cfg.inventory_key) if key is not None]
    if not isinstance(space, gym.spaces.Dict) or not set(keys) <= set(space.spaces):
        raise ValueError(f"ImpalaLSTMModule needs a Dict observation space with the keys {keys} (not flattened), got {space}")
    image = space[cfg.image_key]
    if not isinstance(image, gym.spaces.Box) or len(image.shape) != 3 or image.dtype != np.uint8:
        raise ValueError(f"observation '{cfg.image_key}' must be an (H, W, C) uint8 Box, got {image}")
    for key in keys[1:]:
        if not isinstance(space[key], gym.spaces.Box) or len(space[key].shape) != 1:
            raise ValueError(f"observation '{key}' must be a 1-D Box, got {space[key]}")
    height, width, channels = (int(n) for n in image.shape)
    sizes = [int(space[key].shape[0]) if key is not None else 0 for key in (cfg.target_key, cfg.inventory_key)]
    return (channels, height, width), sizes[0], sizes[1]


class ImpalaLSTMModule(TorchRLModule, ValueFunctionAPI):
    """[CNN(image), embedding(target), MLP(log1p(inventory))] -> LSTM -> logits and value.

    Policy and value share the whole torso, LSTM included, as IMPALA's network does: the value
    loss shapes the CNN too, and there is one recurrent state. The value head is one linear layer,
    so EnvRunners build it as well; it is too small to be worth an inference-only variant.
    """

    @override(TorchRLModule)
    def setup(self) -> None:
        own = {k: v for k, v in (self.model_config or {}).items() if k not in _RLLIB_KEYS}
        cfg = validate_settings(ImpalaLSTMConfig, own, ("model_config",))
        # RLlib's connectors read max_seq_len from the module's own model_config, so the
        # defaults are written back there, not only applied here.
        self.model_config = {**(self.model_config or {}), **cfg.model_dump()}
        if not isinstance(self.action_space, gym.spaces.Discrete):
            raise ValueError(f"ImpalaLSTMModule supports Discrete actions, got {self.action_space}")
        self.image_key, self.target_key, self.inventory_key = cfg.image_key, cfg.target_key, cfg.inventory_key
        self.lstm_size = cfg.lstm_cell_size
        image_shape, n_targets, n_inventory = _observation_sizes(self.observation_space, cfg)

        self.cnn = ImpalaCNN(image_shape, cfg.cnn_channels, cfg.cnn_out)
        inputs = cfg.cnn_out
        if self.target_key is not None:
            self.target_embedding = nn.Linear(n_targets, cfg.target_embedding, bias=False)
            inputs += cfg.target_embedding
        if self.inventory_key is not None:
            self.inventory_mlp = nn.Sequential(nn.Linear(n_inventory, cfg.inventory_hidden), nn.ReLU())
            inputs += cfg.inventory_hidden
        self.lstm = nn.LSTM(inputs, cfg.lstm_cell_size, batch_first=True)
        self.pi_head = nn.Linear(cfg.lstm_cell_size, int(self.action_space.n))
        # A near-uniform first policy (CleanRL's 0.01 init of the policy head).
        nn.init.orthogonal_(self.pi_head.weight, gain=0.01)
        nn.init.zeros_(self.pi_head.bias)
        self.vf_head = nn.Linear(cfg.lstm_cell_size, 1)

    @override(TorchRLModule)
    def get_initial_state(self) -> dict[str, np.ndarray]:
        return {"h": np.zeros(self.lstm_size, dtype=np.float32), "c": np.zeros(self.lstm_size, dtype=np.float32)}

    def _features(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """LSTM features (B, T, lstm_cell_size) of a (B, T, ...) batch, and the next state."""
        obs = batch[Columns.OBS]
        image = obs[self.image_key]
        steps = image.shape[:-3]
        # (B, T, H, W, C) bytes -> (B * T, C, H, W) in [0, 1]: the CNN takes one frame at a time.
        pixels = image.reshape(-1, *image.shape[-3:]).permute(0, 3, 1, 2).float() / 255.0
        parts = [self.cnn(pixels).reshape(*steps, -1)]
        if self.target_key is not None:
            parts.append(self.target_embedding(obs[self.target_key].float()))
        if self.inventory_key is not None:
            parts.append(self.inventory_mlp(torch.log1p(obs[self.inventory_key].float())))
        state_in = batch[Columns.STATE_IN]
        # nn.LSTM wants a leading layer axis on its state: (1, B, lstm_cell_size).
        out, (h, c) = self.lstm(torch.cat(parts, dim=-1), (state_in["h"].unsqueeze(0), state_in["c"].unsqueeze(0)))
        return out, {"h": h.squeeze(0), "c": c.squeeze(0)}

    @override(TorchRLModule)
    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Acting on a (B, T, ...) batch (T is 1 on EnvRunners); the features stay out of the episodes."""
        features, state_out = self._features(batch)
        return {Columns.ACTION_DIST_INPUTS: self.pi_head(features), Columns.STATE_OUT: state_out}

    @override(TorchRLModule)
    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """As `_forward`, with the features as EMBEDDINGS, so PPO's value loss runs no second CNN pass."""
        features, state_out = self._features(batch)
        return {
            Columns.ACTION_DIST_INPUTS: self.pi_head(features),
            Columns.STATE_OUT: state_out,
            Columns.EMBEDDINGS: features,
        }

    @override(ValueFunctionAPI)
    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        """Values (B, T). PPO's loss passes the features of `_forward_train`; GAE passes none."""
        if embeddings is None:
            embeddings, _ = self._features(batch)
        return self.vf_head(embeddings).squeeze(-1)

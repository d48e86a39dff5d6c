"""VPT's released policy as an RLlib RLModule, so RLlib can act with (and fine-tune) the released
weights: model_config names the `.model` and `.weights` files, which every EnvRunner and Learner
reads, so the paths must exist on each node.

Observations are a Dict whose `image` is an (H, W, 3) uint8 frame of the `.model`'s img_shape
(128 x 128 for the released models; resizing MineRL's 640 x 360 frames is the env's job). Actions
are the two categorical heads: MultiDiscrete([8641, 121]) or Dict(buttons=Discrete(8641),
camera=Discrete(121)); RLlib builds a TorchMultiCategorical for the first and a
TorchMultiDistribution of two TorchCategoricals for the second, both from the button logits then
the camera logits (a Dict's keys are sorted, so buttons come first either way).
`rapid.envs.minecraft.vpt_actions` turns the pair into a MineRL action.

The recurrent state is each transformer block's keys and values of the last `memory` frames
(attention_memory_size - timesteps: 128 for the released models) and a flag per frame slot; RLlib
stores one state per step in its episodes, which for the 1x model is 4 x 128 x 1024 x 2 floats
(4 MiB) a step, so keep rollout fragments short.
"""

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from pydantic import Field
from ray.rllib.core.columns import Columns
from ray.rllib.core.models.catalog import Catalog
from ray.rllib.core.rl_module.apis import ValueFunctionAPI
from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
from ray.rllib.core.rl_module.torch import TorchRLModule
from ray.rllib.utils.annotations import override

from rapid.platform.plugins import Strict, validate_settings
from rapid.policies.vpt_released import N_BUTTONS, N_CAMERA, RELEASED_NET_ARGS, VPTArch, VPTMemory, VPTPolicyNet
from rapid.policies.vpt_weights import load_weights, read_model_file


class VPTReleasedConfig(Strict):
    """The module's model_config."""

    model: str | None = Field(None, description="path to a released .model file, whose net args build the network (null: 1x's)")
    weights: str | None = Field(None, description="path to a released .weights file (null: untrained weights)")
    net_args: dict[str, Any] = Field(
        {}, description="net args merged over the .model's, e.g. small sizes for tests (the weights must still fit)"
    )
    temperature: float | None = Field(None, gt=0, description="logit temperature (null: the .model's pi_head_opts, else 1)")
    image_key: str = Field("image", description="observation key of the (H, W, 3) uint8 frame")
    max_seq_len: int = Field(32, gt=0, description="learner sequence length T: RLlib cuts episodes into chunks this long")


MODEL_CONFIG_KEYS = frozenset(VPTReleasedConfig.model_fields)
"""Keys a spec may set. RLlib adds its own (PPO adds vf_share_layers), which the module ignores."""
_RLLIB_KEYS = frozenset(DefaultModelConfig.__dataclass_fields__) - MODEL_CONFIG_KEYS
_STATE_KEYS = ("keys", "values", "valid")


def resolve_arch(cfg: VPTReleasedConfig) -> tuple[VPTArch, float]:
    """The network of model_config, and its temperature: the `.model`'s args (or 1x's) under `net_args`."""
    net_args, temperature = read_model_file(cfg.model) if cfg.model is not None else (RELEASED_NET_ARGS["1x"], 1.0)
    return VPTArch.from_net_args({**net_args, **cfg.net_args}), cfg.temperature or temperature


def _check_spaces(observation_space: gym.Space, action_space: gym.Space, image_key: str, arch: VPTArch) -> None:
    """Spaces the network was built for, or a ValueError saying which."""
    pair = gym.spaces.MultiDiscrete([N_BUTTONS, N_CAMERA])
    named = gym.spaces.Dict(buttons=gym.spaces.Discrete(N_BUTTONS), camera=gym.spaces.Discrete(N_CAMERA))
    if action_space not in (pair, named):
        raise ValueError(f"VPTReleasedModule acts in {pair} or {named}, got {action_space}")
    image = observation_space.spaces.get(image_key) if isinstance(observation_space, gym.spaces.Dict) else None
    if not isinstance(image, gym.spaces.Box) or image.dtype != np.uint8 or image.shape != arch.img_shape:
        raise ValueError(
            f"VPTReleasedModule needs a Dict observation space whose '{image_key}' is a uint8 Box of shape"
            f" {arch.img_shape} (the .model's img_shape), got {observation_space}"
        )


def build_net(model_config: dict[str, Any]) -> VPTPolicyNet:
    """The network of a module's model_config, its released weights loaded (a RapidError names
    the keys and shapes that do not fit)."""
    own = {k: v for k, v in model_config.items() if k not in _RLLIB_KEYS}
    cfg = validate_settings(VPTReleasedConfig, own, ("model_config",))
    arch, temperature = resolve_arch(cfg)
    net = VPTPolicyNet(arch, temperature)
    if cfg.weights is not None:
        load_weights(net, cfg.weights)
    return net


class VPTReleasedModule(TorchRLModule, ValueFunctionAPI):
    """VPT's released network acting through RLlib: logits of both heads, its value, its memory."""

    @override(TorchRLModule)
    def setup(self) -> None:
        own = {k: v for k, v in (self.model_config or {}).items() if k not in _RLLIB_KEYS}
        cfg = validate_settings(VPTReleasedConfig, own, ("model_config",))
        # RLlib's connectors read max_seq_len from the module's own model_config.
        self.model_config = {**(self.model_config or {}), **cfg.model_dump()}
        self.image_key = cfg.image_key
        self.net = build_net(own)
        _check_spaces(self.observation_space, self.action_space, self.image_key, self.net.arch)
        self.action_dist_cls = Catalog._get_dist_cls_from_action_space(self.action_space, framework="torch")

    @override(TorchRLModule)
    def get_initial_state(self) -> dict[str, np.ndarray]:
        memory = self.net.initial_memory(1)
        return {key: getattr(memory, key)[0].numpy() for key in _STATE_KEYS}

    def _latent(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Latents (B, T, hidsize) of a (B, T, ...) batch, and the state after its last step."""
        memory = VPTMemory(*(batch[Columns.STATE_IN][key] for key in _STATE_KEYS))
        latent, memory = self.net.latent_of(batch[Columns.OBS][self.image_key], memory)
        return latent, {"keys": memory.keys, "values": memory.values, "valid": memory.valid}

    def _outputs(self, latent: torch.Tensor, state_out: dict[str, torch.Tensor]) -> dict[str, Any]:
        buttons, camera = self.net.action_logits(latent)
        return {Columns.ACTION_DIST_INPUTS: torch.cat([buttons, camera], dim=-1), Columns.STATE_OUT: state_out}

    @override(TorchRLModule)
    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Acting on a (B, T, ...) batch (T is 1 on EnvRunners)."""
        return self._outputs(*self._latent(batch))

    @override(TorchRLModule)
    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """As `_forward`, with the latents as EMBEDDINGS, so PPO's value loss runs the network once."""
        latent, state_out = self._latent(batch)
        return {**self._outputs(latent, state_out), Columns.EMBEDDINGS: latent}

    @override(ValueFunctionAPI)
    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        """Values (B, T) in return units; PPO's loss passes `_forward_train`'s latents, GAE none."""
        if embeddings is None:
            embeddings, _ = self._latent(batch)
        return self.net.value(embeddings)

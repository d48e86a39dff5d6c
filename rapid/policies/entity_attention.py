"""Hide-and-seek's entity-attention policy (Baker et al. 2019) as a recurrent PPO RLModule.

Facts taken from openai/multi-agent-emergence-environments (`ma_policy/`):
- `ma_policy.py`: the policy and the value function are two networks of the same spec with
  their own weights (`v_network_spec` defaults to `network_spec`, scopes `policy_net` and
  `vpred_net`), each with its own LSTM state; inputs are normalized by running mean/std and
  clipped to [-5, 5], with one statistic per feature shared by all entities of a type
  (`shape[1:]`), masks left alone; one dense head per action component (0.01 init).
- `graph_construct.py`: `concat` tiles the agent's own vector over the entities before an
  entity is embedded; `entity_concat` adds the agent's own embedding as one more entity,
  always unmasked (`concat_entity_masks`).
- `layers.py`: `residual_sa_block` (attention, dense, residual add, optional layer norm),
  `stable_masked_softmax` (masked logits get -1e10, probabilities are re-masked, so a row with
  nothing to see is all zeros), `entity_avg_pooling_masked` (sum over unmasked / count), and
  `circ_conv1d` (lidar wrapped around by kernel // 2 on each side, then a valid conv).

Observations are a Dict, found generically from the space (so the env need not exist here):
- `self`: 1-D Box; `lidar`: optional 1-D Box;
- every 2-D Box `K` (N, F) with companions `K_visible` and `K_present` (each (N,)) is an entity
  type: the policy sees the entities with `K_visible`, the critic every one with `K_present`;
- 1-D Boxes named in `actor_extra_keys` / `critic_extra_keys` join `self` in the policy's / the
  critic's pathway: how an env wrapper adds what only one side may read (RUSP's noisy view of the
  relationships for the policy, the true one for the critic).
"""

import math
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from pydantic import Field, ValidationInfo, field_validator
from ray.rllib.core.columns import Columns
from ray.rllib.core.distribution.torch.torch_distribution import TorchCategorical, TorchDistribution, TorchMultiCategorical
from ray.rllib.core.rl_module.apis import ValueFunctionAPI
from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
from ray.rllib.core.rl_module.torch import TorchRLModule
from ray.rllib.utils.annotations import override
from torch import nn

from rapid.platform.plugins import Strict, validate_settings
from rapid.policies.running_norm import RunningNorm

SELF, LIDAR, VISIBLE, PRESENT = "self", "lidar", "_visible", "_present"


class EntityAttentionConfig(Strict):
    """The module's model_config; the defaults are the paper's sizes."""

    embed_dim: int = Field(128, gt=0, description="width of every entity embedding and of the attention (paper: 128)")
    heads: int = Field(4, gt=0, description="attention heads; must divide embed_dim (paper: 4)")
    fc: int = Field(256, gt=0, description="width of the dense layer after pooling, before the LSTM (paper: 256)")
    lstm_cell_size: int = Field(256, gt=0, description="LSTM size of the policy and of the critic (paper: 256)")
    lidar_channels: int = Field(9, gt=0, description="filters of the circular 1-D convolution over lidar rays")
    lidar_kernel: int = Field(3, gt=0, description="kernel of the circular lidar convolution; odd, so every ray keeps its place")
    max_seq_len: int = Field(
        10, gt=0, description="learner sequence length T: RLlib cuts episodes into chunks this long (paper: 10)"
    )
    normalize_observations: bool = Field(True, description="running mean/std normalization of every input, clipped to [-5, 5]")
    actor_extra_keys: list[str] = Field([], description="1-D observation keys the policy reads beside 'self' (RUSP: [rusp])")
    critic_extra_keys: list[str] = Field(
        [], description="1-D observation keys the critic reads beside 'self' (RUSP: [rusp_critic])"
    )

    @field_validator("heads")
    @classmethod
    def _heads_divide_embed_dim(cls, heads: int, info: ValidationInfo) -> int:
        embed_dim = info.data.get("embed_dim")
        if embed_dim is not None and embed_dim % heads:
            raise ValueError(f"must divide embed_dim ({embed_dim}), got {heads}")
        return heads

    @field_validator("lidar_kernel")
    @classmethod
    def _odd_kernel(cls, kernel: int) -> int:
        if kernel % 2 == 0:
            raise ValueError(f"must be odd, got {kernel}")
        return kernel


MODEL_CONFIG_KEYS = frozenset(EntityAttentionConfig.model_fields)
"""Keys a spec may set. RLlib adds its own (PPO adds vf_share_layers), which the module ignores."""
_RLLIB_KEYS = frozenset(DefaultModelConfig.__dataclass_fields__) - MODEL_CONFIG_KEYS


def _validated(model_config: dict[str, Any] | None) -> EntityAttentionConfig:
    """Our keys validated (a typo is an error naming it); keys of RLlib's own model config are dropped."""
    own = {k: v for k, v in (model_config or {}).items() if k not in _RLLIB_KEYS}
    return validate_settings(EntityAttentionConfig, own, ("model_config",))


@dataclass(frozen=True)
class ObservationLayout:
    """What the module reads from the observation space."""

    self_size: int
    entities: dict[str, tuple[int, int]]  # entity type -> (slots N, features F), in sorted order
    lidar_rays: int  # 0 when there is no lidar
    extras: dict[str, int]  # 1-D keys one pathway reads beside self -> size


def _vector_size(space: gym.Space, key: str) -> int:
    if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
        raise ValueError(f"observation '{key}' must be a 1-D Box, got {space}")
    return int(space.shape[0])


def observation_layout(space: gym.Space, extra_keys: tuple[str, ...] = ()) -> ObservationLayout:
    """The entity types and sizes in a Dict space of the contract above, with the extra 1-D keys a
    pathway reads; anything unused, or an extra key the space lacks, is an error."""
    if not isinstance(space, gym.spaces.Dict) or SELF not in space.spaces:
        raise ValueError(f"EntityAttentionModule needs a Dict observation space (not flattened) with a '{SELF}' key, got {space}")
    spaces, entities = space.spaces, {}
    for key in sorted(spaces):
        box, masks = spaces[key], (f"{key}{VISIBLE}", f"{key}{PRESENT}")
        if not (isinstance(box, gym.spaces.Box) and len(box.shape) == 2 and all(m in spaces for m in masks)):
            continue
        for suffix in (VISIBLE, PRESENT):
            mask = spaces[key + suffix]
            if not isinstance(mask, gym.spaces.Box) or mask.shape != box.shape[:1]:
                raise ValueError(f"observation '{key}{suffix}' must be a Box of shape {box.shape[:1]}, got {mask}")
        entities[key] = (int(box.shape[0]), int(box.shape[1]))
    missing = sorted(set(extra_keys) - set(spaces))
    if missing:
        raise ValueError(f"model_config's extra keys {missing} are not in the observations (keys: {sorted(spaces)})")
    extras = {key: _vector_size(spaces[key], key) for key in extra_keys}
    used = {SELF, LIDAR, *extras, *entities, *(k + s for k in entities for s in (VISIBLE, PRESENT))}
    unused = sorted(set(spaces) - used)
    if unused:
        raise ValueError(
            f"observation keys {unused} are neither '{SELF}', '{LIDAR}' nor an entity type (a 2-D Box K with "
            f"K{VISIBLE} and K{PRESENT}), nor named in actor_extra_keys or critic_extra_keys"
        )
    lidar = _vector_size(spaces[LIDAR], LIDAR) if LIDAR in spaces else 0
    return ObservationLayout(_vector_size(spaces[SELF], SELF), entities, lidar, extras)


def _action_dist(space: gym.Space) -> tuple[type[TorchDistribution], list[int]]:
    """RLlib's distribution for the action space and the logits each component's head gives."""
    if isinstance(space, gym.spaces.Discrete):
        return TorchCategorical, [int(space.n)]
    if isinstance(space, gym.spaces.MultiDiscrete) and space.nvec.ndim == 1:
        lens = [int(n) for n in space.nvec]
        return TorchMultiCategorical.get_partial_dist_cls(space=space, input_lens=lens), lens
    raise ValueError(f"EntityAttentionModule supports Discrete and 1-D MultiDiscrete actions, got {space}")


def masked_softmax(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis where `mask` is true; exactly 0 elsewhere, and all 0 on a row with none."""
    filled = logits.masked_fill(~mask, torch.finfo(logits.dtype).min)
    # A fully masked row softmaxes to uniform over the fill value; re-masking zeroes it (layers.py does the same).
    return filled.softmax(-1) * mask


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `x` (..., N, D) over the entities where `mask` (..., N) is true; 0 where there are none."""
    summed = torch.where(mask.unsqueeze(-1), x, 0.0).sum(-2)
    return summed / mask.sum(-1, keepdim=True).clamp_min(1)


class ResidualSelfAttention(nn.Module):
    """Multi-head self-attention over entities, then dense, residual add and layer norm (`residual_sa_block`).

    Masked entities are never attended to; their own rows are computed but dropped by the pooling.
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.post = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x (..., N, D), mask (..., N) bool -> (..., N, D)."""
        *lead, n, dim = x.shape
        flat = x.reshape(-1, n, dim)
        # (3, batch, heads, N, D / heads)
        q, k, v = self.qkv(flat).view(flat.shape[0], n, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        logits = q @ k.transpose(-1, -2) / math.sqrt(dim // self.heads)
        weights = masked_softmax(logits, mask.reshape(-1, 1, 1, n))
        attended = (weights @ v).transpose(1, 2).reshape(flat.shape)
        return self.norm(flat + self.post(attended)).view(*lead, n, dim)


class EntityPathway(nn.Module):
    """One network of the original's two: embed self (+ lidar) and entities, attend, pool, FC, LSTM."""

    def __init__(self, layout: ObservationLayout, cfg: EntityAttentionConfig, mask_suffix: str, extra_keys: list[str]) -> None:
        super().__init__()
        self.mask_suffix = mask_suffix
        self.extra_keys = extra_keys
        dim = cfg.embed_dim
        self.lidar_conv = (
            nn.Conv1d(1, cfg.lidar_channels, cfg.lidar_kernel, padding=cfg.lidar_kernel // 2, padding_mode="circular")
            if layout.lidar_rays
            else None
        )
        self_width = layout.self_size + sum(layout.extras[key] for key in extra_keys) + layout.lidar_rays * cfg.lidar_channels
        self.self_embed = nn.Linear(self_width, dim)
        # The original embeds concat(self, entity); W [self; entity] is split into two linears so
        # that the self part is computed once per agent, not tiled over every entity slot.
        self.entity_embed = nn.ModuleDict({key: nn.Linear(features, dim) for key, (_, features) in layout.entities.items()})
        self.entity_self = nn.ModuleDict({key: nn.Linear(self_width, dim, bias=False) for key in layout.entities})
        self.attention = ResidualSelfAttention(dim, cfg.heads)
        self.fc = nn.Linear(2 * dim, cfg.fc)
        self.lstm = nn.LSTM(cfg.fc, cfg.lstm_cell_size, batch_first=True)

    def forward(
        self, obs: dict[str, torch.Tensor], state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Normalized obs of shape (B, T, ...) and (h, c) of shape (B, H) -> (B, T, H) features and new (h, c)."""
        agent = torch.cat([obs[SELF], *(obs[key] for key in self.extra_keys)], dim=-1) if self.extra_keys else obs[SELF]
        if self.lidar_conv is not None:
            rays = obs[LIDAR]
            conv = torch.relu(self.lidar_conv(rays.reshape(-1, 1, rays.shape[-1])))
            agent = torch.cat([agent, conv.reshape(*rays.shape[:-1], -1)], dim=-1)
        self_token = torch.relu(self.self_embed(agent))
        tokens, masks = [self_token.unsqueeze(-2)], [torch.ones_like(agent[..., :1], dtype=torch.bool)]
        for key, embed in self.entity_embed.items():
            mask = obs[key + self.mask_suffix]
            # Zeroed before anything reads them: a hidden entity's features cannot leak, even as NaN.
            features = torch.where(mask.unsqueeze(-1), obs[key], 0.0)
            tokens.append(torch.relu(embed(features) + self.entity_self[key](agent).unsqueeze(-2)))
            masks.append(mask)
        mask = torch.cat(masks, dim=-1)
        pooled = masked_mean(self.attention(torch.cat(tokens, dim=-2), mask), mask)
        hidden = torch.relu(self.fc(torch.cat([self_token, pooled], dim=-1)))
        # nn.LSTM wants a leading layer axis on its state: (1, B, H).
        out, (h, c) = self.lstm(hidden, (state[0].unsqueeze(0), state[1].unsqueeze(0)))
        return out, (h.squeeze(0), c.squeeze(0))


class EntityAttentionModule(TorchRLModule, ValueFunctionAPI):
    """Policy and critic: two `EntityPathway`s on shared observation statistics.

    The policy masks entities by `_visible`, the critic by `_present` (it sees every real
    entity, as the original's value network with its unmasked "spoof" masks). Both are
    recurrent, so both states travel in the episodes: EnvRunners run the critic's pathway too
    (as the original computed `vpred` while acting), and the module has no inference-only
    variant; otherwise the Learner would have no critic state at the start of a chunk.
    """

    @override(TorchRLModule)
    def setup(self) -> None:
        # RLlib's connectors read max_seq_len from the module's own model_config, so the
        # defaults are written back there, not only applied here.
        cfg = _validated(self.model_config)
        self.model_config = {**(self.model_config or {}), **cfg.model_dump()}
        self.lstm_size = cfg.lstm_cell_size
        layout = observation_layout(self.observation_space, tuple(dict.fromkeys(cfg.actor_extra_keys + cfg.critic_extra_keys)))
        self.entity_types = list(layout.entities)
        self.extra_keys = list(layout.extras)

        norms: dict[str, nn.Module] = {}
        if cfg.normalize_observations:
            norms[SELF] = RunningNorm(layout.self_size)
            norms.update({key: RunningNorm(size) for key, size in layout.extras.items()})
            norms.update({key: RunningNorm(features) for key, (_, features) in layout.entities.items()})
            if layout.lidar_rays:
                # One statistic for all rays (the original normalizes lidar's trailing axis of 1):
                # rays differ only by direction, which the circular convolution relies on.
                norms[LIDAR] = RunningNorm(1)
        self.norms = nn.ModuleDict(norms)

        self.actor = EntityPathway(layout, cfg, VISIBLE, cfg.actor_extra_keys)
        self.critic = EntityPathway(layout, cfg, PRESENT, cfg.critic_extra_keys)
        self.action_dist_cls, head_sizes = _action_dist(self.action_space)
        self.pi_heads = nn.ModuleList(nn.Linear(cfg.lstm_cell_size, n) for n in head_sizes)
        for head in self.pi_heads:
            # A near-uniform first policy (the original's normc 0.01 heads).
            nn.init.orthogonal_(head.weight, gain=0.01)
            nn.init.zeros_(head.bias)
        self.vf_head = nn.Linear(cfg.lstm_cell_size, 1)

    @override(TorchRLModule)
    def get_initial_state(self) -> dict[str, np.ndarray]:
        zeros = np.zeros(self.lstm_size, dtype=np.float32)
        return {"actor_h": zeros, "actor_c": zeros.copy(), "critic_h": zeros.copy(), "critic_c": zeros.copy()}

    def _inputs(self, obs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Normalized, clipped features and boolean masks (a real entity is required to be seen)."""
        out = {SELF: obs[SELF]}
        if LIDAR in obs:
            out[LIDAR] = obs[LIDAR]
        out.update({key: obs[key] for key in (*self.entity_types, *self.extra_keys)})
        for key, norm in self.norms.items():
            out[key] = norm(out[key].unsqueeze(-1)).squeeze(-1) if key == LIDAR else norm(out[key])
        for key in self.entity_types:
            present = obs[key + PRESENT] > 0.5
            out[key + PRESENT] = present
            out[key + VISIBLE] = (obs[key + VISIBLE] > 0.5) & present
        return out

    def _update_statistics(self, batch: dict[str, Any]) -> None:
        """Fold a learner batch into the statistics, leaving out padded steps and padded entity slots."""
        obs, steps = batch[Columns.OBS], batch.get(Columns.LOSS_MASK)
        if steps is None:
            steps = torch.ones(obs[SELF].shape[:-1], dtype=torch.bool, device=obs[SELF].device)
        steps = steps.bool()
        for key, norm in self.norms.items():
            if key == LIDAR:
                norm.update(obs[LIDAR].unsqueeze(-1), steps.unsqueeze(-1).expand(obs[LIDAR].shape))
            elif key in self.entity_types:
                norm.update(obs[key], steps.unsqueeze(-1) & (obs[key + PRESENT] > 0.5))
            else:
                norm.update(obs[key], steps)

    def _outputs(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Action logits, the next state of both LSTMs, and the critic's features (B, T, H)."""
        inputs, state = self._inputs(batch[Columns.OBS]), batch[Columns.STATE_IN]
        actor_out, (actor_h, actor_c) = self.actor(inputs, (state["actor_h"], state["actor_c"]))
        critic_out, (critic_h, critic_c) = self.critic(inputs, (state["critic_h"], state["critic_c"]))
        return {
            Columns.ACTION_DIST_INPUTS: torch.cat([head(actor_out) for head in self.pi_heads], dim=-1),
            Columns.STATE_OUT: {"actor_h": actor_h, "actor_c": actor_c, "critic_h": critic_h, "critic_c": critic_c},
            Columns.EMBEDDINGS: critic_out,
        }

    @override(TorchRLModule)
    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Acting on a (B, T, ...) batch (T is 1 on EnvRunners); EMBEDDINGS stay out of the episodes."""
        out = self._outputs(batch)
        del out[Columns.EMBEDDINGS]
        return out

    @override(TorchRLModule)
    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Learner batches update the statistics; the critic's features go on as EMBEDDINGS to the value loss."""
        if self.norms:
            self._update_statistics(batch)
        return self._outputs(batch)

    @override(ValueFunctionAPI)
    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        """Values (B, T). PPO's loss passes the critic features of `_forward_train`; GAE passes none."""
        if embeddings is None:
            state = batch[Columns.STATE_IN]
            embeddings, _ = self.critic(self._inputs(batch[Columns.OBS]), (state["critic_h"], state["critic_c"]))
        return self.vf_head(embeddings).squeeze(-1)

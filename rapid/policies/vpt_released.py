"""VPT's released policy (Baker et al. 2022, openai/Video-Pre-Training), rebuilt from the kwargs of a
`.model` file so that the released `.weights` load into it (see `rapid.policies.vpt_weights`).

frames (B, T, H, W, 3) uint8 -> /255 -> IMPALA CNN (impala_chans x impala_width channels, 2 residual
blocks a stage, a dense layer to 256) -> a dense layer to hidsize -> n_recurrence_layers causal
transformer blocks, each attending over a memory of past frames -> ReLU, dense, LayerNorm -> the
latent; then a 8,641-way button head, a 121-way camera head and a value head.

Facts taken from the reference code (the file each came from):
- lib/policy.py (MinecraftPolicy): the CNN's dense output is 256, `img_process.linear` maps it to
  hidsize; dense layers get LayerNorm where the convolutions get GroupNorm (`dense_init_norm_kwargs`);
  `pre_lstm_ln` only with use_pre_lstm_ln; after the blocks: ReLU, `lastlayer`, `final_ln`; the
  policy and value heads share that latent.
- lib/util.py (FanInInitReLULayer): norm (if any) *before* the layer, ReLU after it, and the layer
  has a bias only when there is no norm.
- lib/impala_cnn.py: each stage is conv 3x3 -> max pool 3/2/1 -> GroupNorm(post_pool_groups) -> 2
  blocks x + conv(conv(x)); the first stage's first conv has no norm (first_conv_norm False), later
  ones do; the flattened features are in (C, H, W) order.
- lib/util.py (ResidualRecurrentBlock): x -> LN -> attention, whose residual is added to the *normed*
  x (the block's input is not added back), then x + MLP(x) with MLP = LN -> Linear(4h, no bias)
  -> ReLU -> Linear(h).
- lib/masked_attention.py + lib/xf.py: memory of maxlen = attention_memory_size - timesteps past
  keys and values per block; the clipped causal mask lets each frame see itself and the maxlen - 1
  frames before it, never memory from before an episode's first frame; logits are Q.K / head_dim
  (use_muP_factor) plus a learnt relative-position bias: r_layer(x) (10 basis weights per head)
  times b_nd[:, distance].
- lib/action_head.py, lib/action_mapping.py, agent.py: the heads are single linear layers; logits are
  divided by pi_head_opts' temperature; 8,641 button combinations, 11 x 11 camera bins.
- lib/scaled_mse_head.py, lib/normalize_ewma.py: the value head predicts normalized values; the
  EWMA statistics turn them back into returns.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rapid.platform.errors import RapidError

N_BUTTONS = 8641
"""VPT's button combinations (lib/action_mapping.py: 10*3*3*3*2*2*2*2*2 group choices + inventory)."""
N_CAMERA = 121
"""VPT's camera classes: 11 pitch bins x 11 yaw bins."""
N_REL_BASIS = 10
"""Basis functions of the relative-position bias (lib/xf.py, AttentionLayerBase's nbasis)."""

_COMMON_ARGS: dict[str, Any] = {
    "attention_heads": 16,
    "attention_mask_style": "clipped_causal",
    "attention_memory_size": 256,
    "diff_mlp_embedding": False,
    "img_shape": [128, 128, 3],
    "impala_chans": [16, 32, 32],
    "impala_kwargs": {"post_pool_groups": 1},
    "init_norm_kwargs": {"batch_norm": False, "group_norm_groups": 1},
    "n_recurrence_layers": 4,
    "only_img_input": True,
    "pointwise_ratio": 4,
    "pointwise_use_activation": False,
    "recurrence_is_residual": True,
    "recurrence_type": "transformer",
    "timesteps": 128,
    "use_pointwise_layer": True,
    "use_pre_lstm_ln": False,
}
RELEASED_NET_ARGS: dict[str, dict[str, Any]] = {
    "1x": {**_COMMON_ARGS, "hidsize": 1024, "impala_width": 4},
    "2x": {**_COMMON_ARGS, "hidsize": 2048, "impala_width": 8},
    "3x": {**_COMMON_ARGS, "hidsize": 3072, "impala_width": 12},
}
"""The `.model` files' net args as far as they could be checked: 2x is agent.py's POLICY_KWARGS; for
1x and 3x only hidsize and impala_width are confirmed (by code that loads those weights), the
rest is assumed to be 2x's. A real `.model` file always wins: `load_vpt` reads its own args."""


@dataclass(frozen=True)
class VPTArch:
    """The network's sizes and switches, read from a `.model` file's net args."""

    img_shape: tuple[int, int, int]
    channels: tuple[int, ...]
    hidsize: int
    n_blocks: int
    heads: int
    memory: int
    pointwise_ratio: int
    pointwise_activation: bool
    pointwise: bool
    residual: bool
    input_norm: bool
    conv_groups: int | None
    post_pool_groups: int | None
    scale: float

    @property
    def dense_norm(self) -> bool:
        """Dense layers get a LayerNorm exactly when the convolutions get a GroupNorm (policy.py)."""
        return self.conv_groups is not None

    @property
    def cnn_flat(self) -> int:
        """Features the CNN's dense layer reads: each stage halves H and W, rounding up."""
        height, width, _ = self.img_shape
        for _ in self.channels:
            height, width = (height + 1) // 2, (width + 1) // 2
        return self.channels[-1] * height * width

    @classmethod
    def from_net_args(cls, args: Mapping[str, Any]) -> "VPTArch":
        """Reads MinecraftPolicy's kwargs with its defaults. Keys it does not know are ignored, as
        MinecraftPolicy's **unused_kwargs ignores them; a known setting this rebuild does not
        reproduce is a RapidError naming the key, never a silently different network."""

        def refuse(key: str, why: str) -> RapidError:
            return RapidError(f"VPT net args: {key}={args.get(key)!r} is not supported ({why})")

        if args.get("recurrence_type", "lstm") != "transformer":
            raise refuse("recurrence_type", "the released policies are transformers")
        if args.get("attention_mask_style", "clipped_causal") != "clipped_causal":
            raise refuse("attention_mask_style", "a policy must be causal")
        if args.get("img_statistics") is not None:
            raise refuse("img_statistics", "the released policies scale pixels by 1/255")
        if args.get("first_conv_norm", False):
            raise refuse("first_conv_norm", "the released policies have none")
        norm_kwargs, impala_kwargs = args.get("init_norm_kwargs") or {}, args.get("impala_kwargs") or {}
        norm_keys = set(norm_kwargs) if isinstance(norm_kwargs, Mapping) else {"?"}
        if norm_keys - {"batch_norm", "group_norm_groups"} or norm_kwargs.get("batch_norm"):
            raise refuse("init_norm_kwargs", "only group_norm_groups is reproduced")
        if not isinstance(impala_kwargs, Mapping) or set(impala_kwargs) - {"post_pool_groups"}:
            raise refuse("impala_kwargs", "only post_pool_groups is reproduced")
        for key in ("img_shape", "timesteps"):
            if args.get(key) is None:
                raise RapidError(f"VPT net args: '{key}' is required")
        try:
            arch = cls._read(args, norm_kwargs.get("group_norm_groups"), impala_kwargs.get("post_pool_groups"))
        except (TypeError, ValueError) as err:
            raise RapidError(f"VPT net args: a value has the wrong type ({err})") from None
        if arch.hidsize % arch.heads or arch.memory < 1:
            raise RapidError(
                f"VPT net args: hidsize {arch.hidsize} must divide into {arch.heads} heads, and attention_memory_size"
                f" must exceed timesteps (memory {arch.memory})"
            )
        return arch

    @classmethod
    def _read(cls, args: Mapping[str, Any], conv_groups: Any, post_pool_groups: Any) -> "VPTArch":
        """The fields, with MinecraftPolicy's defaults where a key is left out."""
        height, width, depth = (int(n) for n in args["img_shape"])
        width_factor = float(args.get("impala_width", 1))
        return cls(
            img_shape=(height, width, depth),
            channels=tuple(int(width_factor * c) for c in args.get("impala_chans", (16, 32, 32))),
            hidsize=int(args.get("hidsize", 512)),
            n_blocks=int(args.get("n_recurrence_layers", 1)),
            heads=int(args.get("attention_heads", 8)),
            memory=int(args.get("attention_memory_size", 2048)) - int(args["timesteps"]),
            pointwise_ratio=int(args.get("pointwise_ratio", 4)),
            pointwise_activation=bool(args.get("pointwise_use_activation", False)),
            pointwise=bool(args.get("use_pointwise_layer", True)),
            residual=bool(args.get("recurrence_is_residual", True)),
            input_norm=bool(args.get("use_pre_lstm_ln", True)),
            conv_groups=None if conv_groups is None else int(conv_groups),
            post_pool_groups=None if post_pool_groups is None else int(post_pool_groups),
            scale=255.0 if args.get("scale_input_img", True) else 1.0,
        )


class NormedLayer(nn.Module):
    """[norm ->] conv or linear [-> ReLU]: VPT's FanInInitReLULayer, whose layer has a bias only
    when no norm precedes it."""

    def __init__(self, layer: nn.Module, norm: nn.Module | None, relu: bool = True) -> None:
        super().__init__()
        self.norm = norm
        self.layer = layer
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.norm is not None:
            x = self.norm(x)
        x = self.layer(x)
        return F.relu(x) if self.relu else x


def _conv(inchan: int, outchan: int, groups: int | None) -> NormedLayer:
    norm = nn.GroupNorm(groups, inchan) if groups is not None else None
    return NormedLayer(nn.Conv2d(inchan, outchan, 3, padding=1, bias=norm is None), norm)


def _dense(insize: int, outsize: int, norm: bool, relu: bool = True) -> NormedLayer:
    return NormedLayer(nn.Linear(insize, outsize, bias=not norm), nn.LayerNorm(insize) if norm else None, relu)


class ResidualConvBlock(nn.Module):
    """x + conv(conv(x)), each conv normed first and ReLU'd after."""

    def __init__(self, channels: int, groups: int | None) -> None:
        super().__init__()
        self.convs = nn.Sequential(_conv(channels, channels, groups), _conv(channels, channels, groups))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.convs(x)


class DownStage(nn.Module):
    """conv -> max pool (halves H and W) -> GroupNorm -> two residual blocks."""

    def __init__(self, inchan: int, outchan: int, entry_groups: int | None, groups: int | None, pool_groups: int | None):
        super().__init__()
        self.entry = _conv(inchan, outchan, entry_groups)
        self.pool_norm = nn.GroupNorm(pool_groups, outchan) if pool_groups is not None else None
        self.blocks = nn.Sequential(ResidualConvBlock(outchan, groups), ResidualConvBlock(outchan, groups))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(self.entry(x), kernel_size=3, stride=2, padding=1)
        if self.pool_norm is not None:
            x = self.pool_norm(x)
        return self.blocks(x)


class VPTImpalaCNN(nn.Module):
    """(N, C, H, W) floats -> (N, 256): VPT's IMPALA CNN and its dense layer."""

    def __init__(self, arch: VPTArch) -> None:
        super().__init__()
        inchans = (arch.img_shape[2], *arch.channels[:-1])
        self.stages = nn.ModuleList(
            DownStage(inchan, outchan, arch.conv_groups if i else None, arch.conv_groups, arch.post_pool_groups)
            for i, (inchan, outchan) in enumerate(zip(inchans, arch.channels, strict=True))
        )
        self.dense = _dense(arch.cnn_flat, 256, arch.dense_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.stages:
            x = stage(x)
        return self.dense(x.flatten(1))


class MemoryAttention(nn.Module):
    """Causal self-attention of t new frames over themselves and `memory` cached past frames.

    The cache holds this block's keys and values of the last `memory` frames and a 0/1 flag per
    slot for "belongs to this episode", so a fresh state (all flags 0) attends to nothing old.
    """

    def __init__(self, hidsize: int, heads: int, memory: int) -> None:
        super().__init__()
        self.heads, self.memory = heads, memory
        self.query = nn.Linear(hidsize, hidsize)
        self.key = nn.Linear(hidsize, hidsize, bias=False)
        self.value = nn.Linear(hidsize, hidsize, bias=False)
        self.out = nn.Linear(hidsize, hidsize)
        self.rel_query = nn.Linear(hidsize, N_REL_BASIS * heads)
        self.rel_basis = nn.Parameter(torch.randn(N_REL_BASIS, memory) * 0.2)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, heads * d) -> (B, heads, T, d), head-major as lib/xf.py's split_heads."""
        return x.unflatten(-1, (self.heads, -1)).transpose(1, 2)

    def forward(
        self, x: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, valid: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (B, t, h), cache (B, memory, h) x2 and valid (B, memory) bool -> x + attention, new cache."""
        t = x.shape[1]
        all_keys = torch.cat([keys, self.key(x)], dim=1)
        all_values = torch.cat([values, self.value(x)], dim=1)
        query = self._split(self.query(x))
        logits = query @ self._split(all_keys).transpose(-1, -2) / query.shape[-1]
        # Distance from each new frame i (at memory + i) back to each key j; the band keeps 0..memory-1.
        distance = self.memory + torch.arange(t, device=x.device)[:, None] - torch.arange(self.memory + t, device=x.device)
        in_band = (distance >= 0) & (distance < self.memory)
        basis = torch.where(in_band, self.rel_basis[:, distance.clamp(0, self.memory - 1)], 0.0)
        logits = logits + torch.einsum("bhtn,ntk->bhtk", self._split(self.rel_query(x)), basis)
        seen = torch.cat([valid, valid.new_ones(valid.shape[0], t)], dim=1)
        logits = logits.masked_fill(~(in_band & seen[:, None, :])[:, None], -1e9)
        attended = (logits.softmax(dim=-1) @ self._split(all_values)).transpose(1, 2).flatten(2)
        return x + self.out(attended), all_keys[:, -self.memory :], all_values[:, -self.memory :]


class TransformerBlock(nn.Module):
    """LN -> attention (residual on the normed input) -> [x +] MLP, as ResidualRecurrentBlock."""

    def __init__(self, arch: VPTArch) -> None:
        super().__init__()
        self.residual = arch.residual
        self.attn_norm = nn.LayerNorm(arch.hidsize)
        self.attn = MemoryAttention(arch.hidsize, arch.heads, arch.memory)
        self.mlp = None
        if arch.pointwise:
            wide = arch.hidsize * arch.pointwise_ratio
            self.mlp = nn.Sequential(
                _dense(arch.hidsize, wide, norm=True), _dense(wide, arch.hidsize, norm=False, relu=arch.pointwise_activation)
            )

    def forward(
        self, x: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, valid: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x, keys, values = self.attn(self.attn_norm(x), keys, values, valid)
        if self.mlp is not None:
            x = x + self.mlp(x) if self.residual else self.mlp(x)
        return x, keys, values


@dataclass
class VPTMemory:
    """The recurrent state: per block cached keys and values (B, n_blocks, memory, hidsize), and
    valid (B, memory), 1 where a slot holds a frame of the current episode."""

    keys: torch.Tensor
    values: torch.Tensor
    valid: torch.Tensor


class VPTPolicyNet(nn.Module):
    """VPT's released policy: frames -> (button logits, camera logits, normalized value), with memory."""

    def __init__(self, arch: VPTArch, temperature: float = 1.0) -> None:
        super().__init__()
        self.arch, self.temperature = arch, temperature
        self.cnn = VPTImpalaCNN(arch)
        self.embed = _dense(256, arch.hidsize, arch.dense_norm)
        self.input_norm = nn.LayerNorm(arch.hidsize) if arch.input_norm else None
        self.blocks = nn.ModuleList(TransformerBlock(arch) for _ in range(arch.n_blocks))
        self.latent = _dense(arch.hidsize, arch.hidsize, arch.dense_norm)
        self.latent_norm = nn.LayerNorm(arch.hidsize)
        self.buttons_head = nn.Linear(arch.hidsize, N_BUTTONS)
        self.camera_head = nn.Linear(arch.hidsize, N_CAMERA)
        self.value_head = nn.Linear(arch.hidsize, 1)
        # NormalizeEwma's statistics: set by the weights, never trained by gradients.
        self.register_buffer("value_mean", torch.zeros(1))
        self.register_buffer("value_mean_sq", torch.zeros(1))
        self.register_buffer("value_debias", torch.zeros(()))

    def initial_memory(self, batch: int, device: torch.device | str = "cpu") -> VPTMemory:
        """The state before an episode's first frame: nothing remembered."""
        shape = (batch, self.arch.n_blocks, self.arch.memory, self.arch.hidsize)
        zeros = torch.zeros(shape, device=device)
        return VPTMemory(zeros, zeros.clone(), torch.zeros(batch, self.arch.memory, device=device))

    def latent_of(self, frames: torch.Tensor, memory: VPTMemory) -> tuple[torch.Tensor, VPTMemory]:
        """frames (B, T, H, W, C) uint8 -> latent (B, T, hidsize) and the memory after frame T."""
        steps = frames.shape[:2]
        pixels = frames.flatten(0, 1).permute(0, 3, 1, 2).float() / self.arch.scale
        x = self.embed(self.cnn(pixels)).unflatten(0, steps)
        if self.input_norm is not None:
            x = self.input_norm(x)
        valid = memory.valid > 0.5
        keys, values = [], []
        for i, block in enumerate(self.blocks):
            x, block_keys, block_values = block(x, memory.keys[:, i], memory.values[:, i], valid)
            keys.append(block_keys)
            values.append(block_values)
        seen = torch.cat([memory.valid, memory.valid.new_ones(steps)], dim=1)[:, -self.arch.memory :]
        latent = self.latent_norm(self.latent(F.relu(x)))
        return latent, VPTMemory(torch.stack(keys, dim=1), torch.stack(values, dim=1), seen)

    def action_logits(self, latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Button and camera logits, sharpened or flattened by the `.model`'s temperature."""
        return self.buttons_head(latent) / self.temperature, self.camera_head(latent) / self.temperature

    def value(self, latent: torch.Tensor) -> torch.Tensor:
        """Values (..., ) in return units: the head's normalized output times the EWMA std plus its mean."""
        debias = self.value_debias.clamp(min=1e-5)
        mean, mean_sq = self.value_mean / debias, self.value_mean_sq / debias
        std = (mean_sq - mean**2).clamp(min=1e-2).sqrt()
        return (self.value_head(latent) * std + mean).squeeze(-1)

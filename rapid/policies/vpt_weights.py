"""Loading VPT's released files: a `.model` (a pickled dict whose ["model"]["args"]["net"]["args"]
are MinecraftPolicy's kwargs and ["model"]["args"]["pi_head_opts"] the head's, as run_agent.py
reads them) and a `.weights` (a torch state dict of MinecraftAgentPolicy).

Every released key is renamed by `KEY_RULES`, an explicit table from the reference's module paths
to ours; a key no rule matches, a key the network lacks, a network key no released key fills, or
a shape that differs is a RapidError that names them: nothing loads partially (the reference's
agent.py loads with strict=False, which would hide a mismatch).
"""

import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from rapid.platform.errors import RapidError
from rapid.policies.vpt_released import VPTArch, VPTPolicyNet

_WB = r"(weight|bias)"
_STACK = r"net\.img_process\.cnn\.stacks\.(\d+)\."
_BLOCK = r"net\.recurrent_layer\.blocks\.(\d+)\."
_ATTN = _BLOCK + r"r\.orc_block\."

KEY_RULES: tuple[tuple[str, str], ...] = (
    (_STACK + r"firstconv\.(norm|layer)\." + _WB, r"cnn.stages.\1.entry.\2.\3"),
    (_STACK + r"n\." + _WB, r"cnn.stages.\1.pool_norm.\2"),
    (_STACK + r"blocks\.(\d+)\.conv([01])\.(norm|layer)\." + _WB, r"cnn.stages.\1.blocks.\2.convs.\3.\4.\5"),
    (r"net\.img_process\.cnn\.dense\.(norm|layer)\." + _WB, r"cnn.dense.\1.\2"),
    (r"net\.img_process\.linear\.(norm|layer)\." + _WB, r"embed.\1.\2"),
    (r"net\.pre_lstm_ln\." + _WB, r"input_norm.\1"),
    (_BLOCK + r"pre_r_ln\." + _WB, r"blocks.\1.attn_norm.\2"),
    (_ATTN + r"q_layer\." + _WB, r"blocks.\1.attn.query.\2"),
    (_ATTN + r"k_layer\." + _WB, r"blocks.\1.attn.key.\2"),
    (_ATTN + r"v_layer\." + _WB, r"blocks.\1.attn.value.\2"),
    (_ATTN + r"proj_layer\." + _WB, r"blocks.\1.attn.out.\2"),
    (_ATTN + r"r_layer\." + _WB, r"blocks.\1.attn.rel_query.\2"),
    (_ATTN + r"b_nd", r"blocks.\1.attn.rel_basis"),
    (_BLOCK + r"mlp0\.(norm|layer)\." + _WB, r"blocks.\1.mlp.0.\2.\3"),
    (_BLOCK + r"mlp1\.layer\." + _WB, r"blocks.\1.mlp.1.layer.\2"),
    (r"net\.lastlayer\.(norm|layer)\." + _WB, r"latent.\1.\2"),
    (r"net\.final_ln\." + _WB, r"latent_norm.\1"),
    (r"pi_head\.buttons\.linear_layer\." + _WB, r"buttons_head.\1"),
    (r"pi_head\.camera\.linear_layer\." + _WB, r"camera_head.\1"),
    (r"value_head\.linear\." + _WB, r"value_head.\1"),
    (r"value_head\.normalizer\.running_mean", "value_mean"),
    (r"value_head\.normalizer\.running_mean_sq", "value_mean_sq"),
    (r"value_head\.normalizer\.debiasing_term", "value_debias"),
)
"""(released key pattern, our name): the patterns follow the reference's attribute paths
(lib/policy.py, lib/impala_cnn.py, lib/util.py, lib/masked_attention.py, lib/xf.py, lib/action_head.py,
lib/scaled_mse_head.py, lib/normalize_ewma.py); each must match a whole key."""

_COMPILED = tuple((re.compile(pattern), ours) for pattern, ours in KEY_RULES)
_LISTED = 5
"""At most this many keys of each kind go into an error message."""

# Globals a `.model` pickle may really construct: containers and numpy scalars. Anything else
# becomes an inert placeholder, so reading a `.model` never runs code from it.
_SAFE_GLOBALS = frozenset({
    ("collections", "OrderedDict"), ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "complex"),
    ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"), ("numpy", "ndarray"),
})


class _Opaque:
    """Stands in for a class or function a `.model` names but this process need not import."""

    def __new__(cls, *args: Any, **kwargs: Any) -> "_Opaque":
        return super().__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _ModelUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        return type(f"Opaque[{module}.{name}]", (_Opaque,), {})


def released_name_to_ours(key: str) -> str | None:
    """Our parameter name for a released key, None when no rule matches it."""
    for pattern, ours in _COMPILED:
        if pattern.fullmatch(key):
            return pattern.sub(ours, key)
    return None


def read_model_file(path: str | Path) -> tuple[dict[str, Any], float]:
    """The net args and the pi head's temperature of a `.model` file."""
    try:
        with open(path, "rb") as f:
            content = _ModelUnpickler(f).load()
    except (OSError, pickle.UnpicklingError, EOFError) as err:
        raise RapidError(f"cannot read the VPT .model file {path}: {err}") from None
    try:
        args = content["model"]["args"]
        net_args, head_opts = args["net"]["args"], args.get("pi_head_opts") or {}
    except (KeyError, TypeError):
        raise RapidError(f"{path} is not a VPT .model file: it has no ['model']['args']['net']['args']") from None
    if not isinstance(net_args, Mapping) or not isinstance(head_opts, Mapping):
        raise RapidError(f"{path}: ['model']['args']['net']['args'] and ['pi_head_opts'] must be dicts")
    return dict(net_args), float(head_opts.get("temperature", 1.0))


def _listed(items: list[str]) -> str:
    more = f", and {len(items) - _LISTED} more" if len(items) > _LISTED else ""
    return "; ".join(items[:_LISTED]) + more


def convert_released(state: Mapping[str, Any], net: VPTPolicyNet, source: str) -> dict[str, torch.Tensor]:
    """A released state dict under our names, checked key by key and shape by shape against `net`."""
    ours = net.state_dict()
    converted: dict[str, torch.Tensor] = {}
    unmapped, wrong_shape = [], []
    for key, tensor in state.items():
        name = released_name_to_ours(key)
        if not isinstance(tensor, torch.Tensor):
            unmapped.append(f"{key} (a {type(tensor).__name__}, not a tensor)")
        elif name is None:
            unmapped.append(f"{key} {tuple(tensor.shape)} (no rule matches)")
        elif name not in ours:
            unmapped.append(f"{key} {tuple(tensor.shape)} (-> {name}, which this network does not have)")
        elif tensor.shape != ours[name].shape:
            wrong_shape.append(f"{key} is {tuple(tensor.shape)} but {name} is {tuple(ours[name].shape)}")
        else:
            converted[name] = tensor
    covered = {released_name_to_ours(key) for key in state}
    missing = [f"{name} {tuple(tensor.shape)}" for name, tensor in ours.items() if name not in covered]
    problems = [
        f"{len(items)} {what}: {_listed(items)}"
        for what, items in (("unmapped released keys", unmapped), ("shape mismatches", wrong_shape), ("missing", missing))
        if items
    ]
    if problems:
        raise RapidError(f"the VPT weights {source} do not fit the network: " + " | ".join(problems))
    return converted


def load_weights(net: VPTPolicyNet, weights_path: str | Path) -> None:
    """Fills `net` from a released `.weights` file (all of it, or a RapidError)."""
    try:
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, pickle.UnpicklingError, EOFError) as err:
        raise RapidError(f"cannot read the VPT .weights file {weights_path}: {err}") from None
    if not isinstance(state, Mapping):
        raise RapidError(f"{weights_path} is not a state dict but a {type(state).__name__}")
    net.load_state_dict(convert_released(state, net, str(weights_path)))


def load_vpt(model_path: str | Path, weights_path: str | Path | None) -> VPTPolicyNet:
    """The released policy of a `.model` file, with the `.weights` loaded (None: untrained)."""
    net_args, temperature = read_model_file(model_path)
    net = VPTPolicyNet(VPTArch.from_net_args(net_args), temperature)
    if weights_path is not None:
        load_weights(net, weights_path)
    return net


"""VPT's action space <-> MineRL action dicts, in pure numpy (no MineRL needed).

VPT's policy picks a pair: a button index (8,641 classes) and a camera index (121 classes). Facts
from openai/Video-Pre-Training:
- lib/actions.py (`Buttons.ALL`): the 20 buttons VPT models, in `BUTTONS`' order. agent.py's
  TARGET_ACTION_SPACE adds ESC, swapHands and pickItem, which VPT never presses (always 0 here).
- lib/action_mapping.py (`CameraHierarchicalMapping`): mutually exclusive `BUTTON_GROUPS` (hotbar,
  forward/back, left/right, sprint/sneak, use, drop, attack, jump) plus a camera on/off
  "meta" choice; the button index of a combination is its position in itertools.product of the
  groups (the last group varies fastest), and index 8640 is "inventory" (every other button
  released). The camera index is pitch_bin * 11 + yaw_bin.
- lib/actions.py (`CameraQuantizer`, mu_law) with agent.py's ACTION_TRANSFORMER_KWARGS (maxval 10,
  binsize 2, mu 10): a camera angle in degrees is clipped to [-10, 10], mu-law encoded,
  v = 10 * sign(x) * log(1 + 10 |x| / 10) / log(11), and binned, round((v + 10) / 2) (numpy's
  round, half to even), giving 11 bins per axis; bin 5 is "no move".
- Decoding (`to_factored`): a combination whose meta choice is "none" forces the camera to bin 5;
  the inventory index does not (its camera passes through). Encoding (`from_factored`): pressing
  forward and back (or left and right) together is neither; in other groups the button later in
  the group wins (hotbar.9 over hotbar.1, sneak over sprint); inventory overrides every other
  button and forces the camera index to "no move"; the meta choice is "camera" iff a camera bin
  is not 5.

Round trips. A pair (buttons, camera) -> MineRL dict -> pair is the identity exactly when the
camera agrees with the meta choice: a "camera" combination with a camera index other than 60 (5,
5), or a "none" combination or inventory with camera index 60. Otherwise it comes back as the pair
VPT would have recorded for that dict: a "camera" combination with camera 60 returns as its
"none" twin, a "none" combination ignores its camera (returns camera 60), and inventory with a
camera move returns as (inventory, 60). So every button index maps to a dict that maps back to
it, given a camera index that agrees with it. Camera bins round-trip through degrees exactly.
"""

from collections.abc import Mapping
from typing import Any

import numpy as np

HOTBAR = tuple(f"hotbar.{slot}" for slot in range(1, 10))
BUTTONS: tuple[str, ...] = (
    "attack", "back", "forward", "jump", "left", "right", "sneak", "sprint", "use", "drop", "inventory", *HOTBAR,
)
"""lib/actions.py's Buttons.ALL, in its order."""
NEVER_PRESSED: tuple[str, ...] = ("ESC", "swapHands", "pickItem")
"""MineRL keys in agent.py's TARGET_ACTION_SPACE that VPT does not model."""
BUTTON_GROUPS: tuple[tuple[str, ...], ...] = (
    ("none", *HOTBAR),
    ("none", "forward", "back"),
    ("none", "left", "right"),
    ("none", "sprint", "sneak"),
    ("none", "use"),
    ("none", "drop"),
    ("none", "attack"),
    ("none", "jump"),
    ("none", "camera"),
)
"""CameraHierarchicalMapping.BUTTONS_GROUPS, in its order; the last is the camera meta choice."""
_SIZES = tuple(len(group) for group in BUTTON_GROUPS)
N_COMBINATIONS = int(np.prod(_SIZES))
INVENTORY = N_COMBINATIONS
"""The button index of "inventory", after every group combination."""
N_BUTTONS = N_COMBINATIONS + 1

CAMERA_MAXVAL, CAMERA_BINSIZE, CAMERA_MU = 10.0, 2.0, 10.0
CAMERA_BINS = int(2 * CAMERA_MAXVAL / CAMERA_BINSIZE) + 1
NULL_BIN = CAMERA_BINS // 2
N_CAMERA = CAMERA_BINS * CAMERA_BINS
NULL_CAMERA = NULL_BIN * CAMERA_BINS + NULL_BIN
"""The camera index of "no move": pitch and yaw both in the middle bin."""


def _button_table() -> tuple[np.ndarray, np.ndarray]:
    """Each button index's pressed buttons (N_BUTTONS, 20) and whether its meta choice forces the
    camera still (to_factored's BUTTON_IDX_TO_CAMERA_META_OFF)."""
    choices = np.stack(np.unravel_index(np.arange(N_COMBINATIONS), _SIZES), axis=1)
    pressed = np.zeros((N_BUTTONS, len(BUTTONS)), dtype=np.int64)
    for column, group in enumerate(BUTTON_GROUPS[:-1]):
        for choice, name in enumerate(group[1:], start=1):
            pressed[:N_COMBINATIONS, BUTTONS.index(name)] |= choices[:, column] == choice
    pressed[INVENTORY, BUTTONS.index("inventory")] = 1
    camera_off = np.append(choices[:, -1] == 0, False)
    return pressed, camera_off


BUTTON_PRESSES, CAMERA_OFF = _button_table()


def quantize_camera(degrees: Any) -> np.ndarray:
    """Camera angles in degrees -> mu-law bins 0..10 (CameraQuantizer.discretize)."""
    x = np.clip(np.asarray(degrees, dtype=np.float64), -CAMERA_MAXVAL, CAMERA_MAXVAL) / CAMERA_MAXVAL
    encoded = np.sign(x) * np.log1p(CAMERA_MU * np.abs(x)) / np.log1p(CAMERA_MU) * CAMERA_MAXVAL
    return np.round((encoded + CAMERA_MAXVAL) / CAMERA_BINSIZE).astype(np.int64)


def dequantize_camera(bins: Any) -> np.ndarray:
    """Bins -> the angle in degrees each stands for (CameraQuantizer.undiscretize)."""
    x = (np.asarray(bins, dtype=np.float64) * CAMERA_BINSIZE - CAMERA_MAXVAL) / CAMERA_MAXVAL
    return np.sign(x) * ((1.0 + CAMERA_MU) ** np.abs(x) - 1.0) / CAMERA_MU * CAMERA_MAXVAL


def indices_to_factored(buttons: Any, camera: Any) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (N,) -> pressed buttons (N, 20) and camera bins (N, 2) [pitch, yaw]."""
    buttons, camera = np.asarray(buttons, dtype=np.int64), np.asarray(camera, dtype=np.int64)
    bins = np.stack(np.divmod(camera, CAMERA_BINS), axis=-1)
    bins[CAMERA_OFF[buttons]] = NULL_BIN
    return BUTTON_PRESSES[buttons], bins


def factored_to_indices(pressed: Any, bins: Any) -> tuple[np.ndarray, np.ndarray]:
    """Pressed buttons (N, 20) and camera bins (N, 2) -> the index pairs VPT records for them."""
    pressed, bins = np.asarray(pressed).astype(bool), np.asarray(bins, dtype=np.int64)
    choices = []
    for group in BUTTON_GROUPS[:-1]:
        choice = np.zeros(len(pressed), dtype=np.int64)
        for index, name in enumerate(group[1:], start=1):
            choice = np.where(pressed[:, BUTTONS.index(name)], index, choice)
        if len(group) == 3 and group[1:] in (("forward", "back"), ("left", "right")):
            both = pressed[:, BUTTONS.index(group[1])] & pressed[:, BUTTONS.index(group[2])]
            choice = np.where(both, 0, choice)
        choices.append(choice)
    moves = np.any(bins != NULL_BIN, axis=1)
    choices.append(moves.astype(np.int64))
    buttons = np.ravel_multi_index(choices, _SIZES)
    camera = bins[:, 0] * CAMERA_BINS + bins[:, 1]
    inventory = pressed[:, BUTTONS.index("inventory")]
    return np.where(inventory, INVENTORY, buttons), np.where(inventory, NULL_CAMERA, camera)


def to_minerl(buttons: int, camera: int) -> dict[str, Any]:
    """A VPT action (button index, camera index) -> a MineRL action dict, camera [pitch, yaw] degrees."""
    pressed, bins = indices_to_factored([buttons], [camera])
    action: dict[str, Any] = {name: int(down) for name, down in zip(BUTTONS, pressed[0], strict=True)}
    action.update(dict.fromkeys(NEVER_PRESSED, 0))
    action["camera"] = dequantize_camera(bins[0]).astype(np.float32)
    return action


def from_minerl(action: Mapping[str, Any]) -> tuple[int, int]:
    """A MineRL action dict -> the (button index, camera index) VPT records for it; absent keys are
    released buttons and a still camera."""
    pressed = np.array([[bool(np.any(action.get(name, 0))) for name in BUTTONS]])
    bins = quantize_camera(np.reshape(action.get("camera", (0.0, 0.0)), (1, 2)))
    buttons, camera = factored_to_indices(pressed, bins)
    return int(buttons[0]), int(camera[0])

"""The MineRL backend's pure half: which discrete actions the agent has, the MineRL action dict of
each, and how a MineRL observation becomes a `Frame`. No process and no MineRL here, so all of it is
tested on machines where MineRL cannot be built.

MineRL facts used (minerllabs/minerl at v1.0.2):
- Actions (`HumanControlEnvSpec.create_actionables`, herobraine/env_specs/human_controls.py): one
  Discrete(2) per value of `KEYMAP` in herobraine/hero/mc.py (forward, left, back, right, jump,
  inventory, drop, swapHands, sneak, sprint, attack, use, pickItem, hotbar.1..hotbar.9, ESC) and
  `camera`, a Box(-180, 180, (2,), float32) of [pitch, yaw] in degrees (handlers/agent/actions/
  camera.py). Pitch grows looking down and yaw turning right (`mc.mouse_to_camera` maps mouse
  [dy, dx] to it). This is the brief's list exactly.
- Observations of `MineRLObtainDiamondShovel-v0` (herobraine/env_specs/obtain_specs.py): `pov`
  (360, 640, 3) uint8 (resolution 640x360) and `inventory`, one int32 count in [0, 2304] for every
  Minecraft 1.16 item (`FlatInventoryObservation(ALL_ITEMS)`).
- Where that differs from the brief: Minecraft 1.16 has no `log` or `planks` item, only the wood
  kinds (oak_log, ..., oak_planks, ...). `log` and `planks` here are the sums over the six kinds
  that MineRL's own reward wrapper (`DIAMOND_ITEMS`, obtain_specs.py) counts; every other item is
  its own name. The env also ends its episode itself when the agent gets a diamond shovel, or after
  18,000 steps, and `env.seed(int)` takes effect at the next `reset()`.
"""

from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np

from rapid.envs.minecraft.backend import Frame

# MineRL's binary keys, in mc.KEYMAP's order; `camera` is the one non-binary key.
MINERL_KEYS: tuple[str, ...] = (
    "forward", "left", "back", "right", "jump", "inventory", "drop", "swapHands", "sneak", "sprint",
    "attack", "use", "pickItem", *(f"hotbar.{slot}" for slot in range(1, 10)), "ESC",
)

_WOODS = ("oak", "spruce", "birch", "jungle", "acacia", "dark_oak")
# The MineRL inventory names each of our items sums; an item left out is its own name.
ITEM_SOURCES: dict[str, tuple[str, ...]] = {
    "log": tuple(f"{wood}_log" for wood in _WOODS),
    "planks": tuple(f"{wood}_planks" for wood in _WOODS),
}

# The targets a task may name: the diamond tech tree that MineRL rewards, in its order.
MINERL_ITEMS: tuple[str, ...] = (
    "log", "planks", "stick", "crafting_table", "wooden_pickaxe", "cobblestone", "stone_pickaxe",
    "furnace", "iron_ore", "iron_ingot", "iron_pickaxe", "diamond", "diamond_shovel",
)

# What the agent observes of its inventory: the targets and the tree's side items (MineRL's
# ObtainDiamond inventory of 0.4, plus diamond and diamond_shovel).
MINERL_INVENTORY: tuple[str, ...] = (
    "dirt", "coal", "torch", "log", "planks", "stick", "crafting_table", "wooden_axe", "wooden_pickaxe",
    "stone", "cobblestone", "furnace", "stone_axe", "stone_pickaxe", "iron_ore", "iron_ingot", "iron_axe",
    "iron_pickaxe", "diamond", "diamond_shovel",
)


def _macros(camera_step: float) -> tuple[tuple[str, dict[str, Any]], ...]:
    """Each named action's pressed keys; `camera_step` degrees per camera action."""
    return (
        ("noop", {}),
        ("forward", {"forward": 1}),
        ("back", {"back": 1}),
        ("left", {"left": 1}),
        ("right", {"right": 1}),
        ("jump", {"jump": 1}),
        ("jump_forward", {"forward": 1, "jump": 1}),
        ("sprint_forward", {"forward": 1, "sprint": 1}),
        ("attack", {"attack": 1}),
        ("use", {"use": 1}),
        ("camera_up", {"camera": [-camera_step, 0.0]}),
        ("camera_down", {"camera": [camera_step, 0.0]}),
        ("camera_left", {"camera": [0.0, -camera_step]}),
        ("camera_right", {"camera": [0.0, camera_step]}),
        *((f"hotbar_{slot}", {f"hotbar.{slot}": 1}) for slot in range(1, 10)),
        ("inventory", {"inventory": 1}),
    )


# The discrete action set, by index: walking, jumping, mining (attack), placing and crafting-table
# clicks (use), looking around, choosing a hotbar slot, and opening the inventory GUI, in which the
# camera moves the cursor and attack/use click: MineRL 1.0 crafts only through its GUIs.
MINERL_ACTIONS: tuple[str, ...] = tuple(name for name, _ in _macros(1.0))


def noop_action() -> dict[str, Any]:
    """Every key MineRL expects, none pressed: plain Python values, so it crosses the pipe as JSON."""
    return {**dict.fromkeys(MINERL_KEYS, 0), "camera": [0.0, 0.0]}


def action_dict(index: int, camera_step: float = 15.0) -> dict[str, Any]:
    """MineRL's action dict of `MINERL_ACTIONS[index]` (the worker turns `camera` into an array)."""
    macros = _macros(camera_step)
    if not 0 <= index < len(macros):
        raise ValueError(f"MineRL action {index} is out of range: there are {len(macros)} actions")
    return {**noop_action(), **macros[index][1]}


def inventory_vector(inventory: Mapping[str, Any]) -> np.ndarray:
    """Counts of `MINERL_INVENTORY` from MineRL's inventory dict (an absent name counts 0)."""
    return np.array([sum(float(inventory.get(name, 0)) for name in ITEM_SOURCES.get(item, (item,)))
                     for item in MINERL_INVENTORY], dtype=np.float32)


def observe_image(pov: np.ndarray, image_size: int) -> np.ndarray:
    """The agent's (image_size, image_size, 3) uint8 view; INTER_AREA, as the 640x360 view shrinks."""
    if pov.shape[:2] != (image_size, image_size):
        pov = cv2.resize(pov, (image_size, image_size), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(pov, dtype=np.uint8)


_ITEM_INDEX = [MINERL_INVENTORY.index(item) for item in MINERL_ITEMS]


def frame(obs: Mapping[str, Any], start_inventory: np.ndarray, obtained_so_far: frozenset[str], done: bool,
          image_size: int) -> Frame:
    """A MineRL observation as a `Frame`: an item is obtained once its count has risen above the
    episode's start count (`inventory_vector` of the reset's inventory) at any step since. MineRL
    ends an ObtainDiamondShovel episode at the shovel (an end state) or at its step limit (a
    truncation): `done` without the shovel is taken as the limit."""
    inventory = inventory_vector(obs["inventory"])
    risen = inventory[_ITEM_INDEX] > start_inventory[_ITEM_INDEX]
    obtained = frozenset(obtained_so_far | {item for item, up in zip(MINERL_ITEMS, risen, strict=True) if up})
    finished = bool(done) and "diamond_shovel" in obtained
    return Frame(observe_image(obs["pov"], image_size), inventory, obtained, finished, bool(done) and not finished)

"""What a Minecraft-like game gives the Simon Says task env: one contract, two backends (Crafter
on every machine, MineRL in the cluster image).

A backend knows its items (the targets a task may name, in a fixed order), its inventory and a
discrete action set; each step it returns a `Frame`. Which items were obtained is the backend's
to say: Crafter counts achievements, MineRL watches inventory counts rise.
"""

from typing import Any, NamedTuple, Protocol

import numpy as np
from gymnasium import spaces


class Frame(NamedTuple):
    """One step of a backend: what the agent sees and has, and how the game stands."""

    image: np.ndarray  # (H, W, 3) uint8, the agent's view
    inventory: np.ndarray  # (len(inventory_items),) float32 counts
    obtained: frozenset[str]  # the items obtained at least once since the reset
    over: bool  # the game reached an end state (the player died): no value beyond it
    cut: bool = False  # the game's own time limit ended the episode: a truncation, the value goes on


class Backend(Protocol):
    """A game behind the task env; `reset` may start it (a MineRL backend starts its process there)."""

    items: tuple[str, ...]
    inventory_items: tuple[str, ...]
    action_space: spaces.Space  # Discrete, or MineRL's MultiDiscrete VPT pair
    image_shape: tuple[int, int, int]

    def reset(self, seed: int | None) -> Frame: ...

    def step(self, action: Any) -> Frame: ...

    def render(self) -> np.ndarray: ...

    def close(self) -> None: ...

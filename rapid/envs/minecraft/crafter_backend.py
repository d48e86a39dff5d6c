"""Crafter (Hafner 2021) as a Simon Says backend: a 2D Minecraft with the same tree of items and
tools, 22 achievements, on any laptop.

Crafter speaks the old gym API (`reset()` returns the image only and takes no seed; `step`
returns four values), so this backend talks to `crafter.Env` directly. An item is obtained when
its achievement's count in `info["achievements"]` becomes positive. Crafter draws each episode's
world from `hash((seed, episode))`; a reset with a seed restarts that sequence.

numba compiles opensimplex's world generation (a reset at area 64x64 takes about 0.04 s with it
and 0.6 s without) into a cache beside the package; where site-packages is read-only (the
cluster image) the cache goes to NUMBA_CACHE_DIR, set here unless the user set it.
"""

import importlib.util
import os
from pathlib import Path

import numpy as np
from gymnasium import spaces


def _numba_cache_where_writable() -> None:
    spec = importlib.util.find_spec("opensimplex")
    if spec is None or spec.origin is None or os.access(Path(spec.origin).parent, os.W_OK):
        return
    os.environ.setdefault("NUMBA_CACHE_DIR", str(Path.home() / ".cache" / "rapid" / "numba"))


_numba_cache_where_writable()

import crafter  # noqa: E402
import crafter.constants  # noqa: E402

from rapid.envs.minecraft import CRAFTER_ITEMS  # noqa: E402
from rapid.envs.minecraft.backend import Frame  # noqa: E402

INVENTORY = tuple(crafter.constants.items)
VIDEO_SIZE = (256, 256)


class CrafterBackend:
    """One `crafter.Env`; `length` None leaves the episode's end to the task env (and to death)."""

    items = CRAFTER_ITEMS
    inventory_items = INVENTORY

    def __init__(self, area: tuple[int, int], image_size: int, length: int | None) -> None:
        self.env = crafter.Env(area=area, size=(image_size, image_size), length=length, reward=False)
        self.action_space = spaces.Discrete(len(crafter.constants.actions))
        self.image_shape = (image_size, image_size, 3)

    def reset(self, seed: int | None) -> Frame:
        if seed is not None:
            self.env._seed, self.env._episode = seed, 0
        image = self.env.reset()
        return Frame(image, self._inventory(self.env._player.inventory), frozenset(), False)

    def step(self, action: int) -> Frame:
        image, _, done, info = self.env.step(int(action))
        obtained = frozenset(name for name, count in info["achievements"].items() if count > 0)
        dead = bool(done) and info["discount"] == 0  # Crafter's discount is 0 at death only
        return Frame(image, self._inventory(info["inventory"]), obtained, dead, bool(done) and not dead)

    def render(self) -> np.ndarray:
        return self.env.render(VIDEO_SIZE)

    def close(self) -> None:
        """Crafter holds no process or file."""

    @staticmethod
    def _inventory(counts: dict[str, int]) -> np.ndarray:
        return np.fromiter((counts[name] for name in INVENTORY), np.float32, len(INVENTORY))

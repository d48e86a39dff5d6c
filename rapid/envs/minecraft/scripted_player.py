"""A scripted Crafter player that works up the tech tree, the demonstrator of the VPT workload
(`rapid list player`: `crafter_tech_tree`).

It reads privileged state, the world map and the inventory, as a human contractor sees the game:
collect wood, place a table, make a wooden pickaxe and sword, mine stone, make a stone pickaxe,
then coal, iron, a furnace and an iron pickaxe; it drinks and eats when low. It walks by
breadth-first search over the cells around it and, with probability `noise`, takes a random
action instead, so its data has the mistakes real players make.
"""

from collections import deque
from collections.abc import Callable
from typing import Any

import crafter.constants
import numpy as np

ACTIONS = {name: index for index, name in enumerate(crafter.constants.actions)}
MOVES = {(-1, 0): ACTIONS["move_left"], (1, 0): ACTIONS["move_right"], (0, -1): ACTIONS["move_up"], (0, 1): ACTIONS["move_down"]}
WALKABLE = ("grass", "sand", "path")
RADIUS = 12  # the search window's half side, in cells: wider than the 9x9 view, cheap enough per step
NOISE = 0.1


class TechTreePlayer:
    """One episode's player: `player(obs, info)` returns the next action."""

    def __init__(self, game: Any, rng: np.random.Generator, noise: float = NOISE) -> None:
        self.game, self.rng, self.noise = game, rng, noise
        self.heading = (0, 1)  # where it explores when nothing it wants is in sight

    def __call__(self, obs: Any, info: dict[str, Any]) -> int:
        if self.rng.random() < self.noise:
            return int(self.rng.integers(len(ACTIONS)))
        return self._next()

    @property
    def _player(self) -> Any:
        return self.game._player

    def _has(self, needs: dict[str, int]) -> bool:
        return all(self._player.inventory[item] >= count for item, count in needs.items())

    def _near(self, *materials: str) -> bool:
        nearby, _ = self.game._world.nearby(self._player.pos, 1)
        return all(material in nearby for material in materials)

    def _next(self) -> int:
        inv = self._player.inventory
        if inv["drink"] < 4 and self._find("water") is not None:
            return self._collect("water")
        if inv["food"] < 4 and self._find("cow") is not None:
            return self._collect("cow")
        for tool in ("wood_pickaxe", "wood_sword", "stone_pickaxe", "iron_pickaxe"):
            if inv[tool] == 0:
                return self._make(tool)
        return self._collect("diamond")

    def _make(self, tool: str) -> int:
        recipe = crafter.constants.make[tool]
        for item, count in recipe["uses"].items():
            if not self._has({item: count}):
                return self._collect(item)
        for station in recipe["nearby"]:
            if not self._near(station):
                return self._station(station, recipe["uses"])
        return ACTIONS[f"make_{tool}"]

    def _station(self, station: str, keep: dict[str, int]) -> int:
        """Walk to a placed station in sight, or place one when the inventory pays for it too."""
        if self._find(station) is not None:
            return self._walk_next_to(station)
        cost = crafter.constants.place[station]["uses"]
        needs = {item: cost[item] + keep.get(item, 0) for item in cost}
        for item, count in needs.items():
            if not self._has({item: count}):
                return self._collect(item)
        return self._place(station)

    def _place(self, name: str) -> int:
        x, y = self._player.pos
        dx, dy = self._player.facing
        material, obj = self.game._world[(x + dx, y + dy)]
        if material in crafter.constants.place[name]["where"] and obj is None:
            return ACTIONS[f"place_{name}"]
        return self._explore()

    def _collect(self, item: str) -> int:
        """Walk next to the nearest source of `item` (a material, or a cow), face it, and hit it."""
        source = {"wood": "tree", "drink": "water", "food": "cow"}.get(item, item)
        if source in ("iron", "diamond", "coal", "stone") and not self._can_mine(source):
            tool = {"stone": "wood_pickaxe", "coal": "wood_pickaxe", "iron": "stone_pickaxe"}.get(source, "iron_pickaxe")
            return self._make(tool)
        return self._walk_next_to(source, act=ACTIONS["do"])

    def _can_mine(self, material: str) -> bool:
        return self._has(crafter.constants.collect[material]["require"])

    def _walk_next_to(self, target: str, act: int = ACTIONS["noop"]) -> int:
        """The move toward the nearest cell beside `target`; there, face it and `act`."""
        found = self._find(target)
        if found is None:
            return self._explore()
        first_step, goal = found
        if first_step is None:  # already beside it
            direction = (goal[0] - self._player.pos[0], goal[1] - self._player.pos[1])
            return act if tuple(self._player.facing) == direction else MOVES[direction]
        return MOVES[first_step]

    def _explore(self) -> int:
        """Keep walking one way; turn at random when blocked, now and then anyway."""
        x, y = self._player.pos
        material, obj = self.game._world[(x + self.heading[0], y + self.heading[1])]
        if material not in WALKABLE or obj is not None or self.rng.random() < 0.05:
            self.heading = list(MOVES)[self.rng.integers(len(MOVES))]
        return MOVES[self.heading]

    def _find(self, target: str) -> tuple[tuple[int, int] | None, tuple[int, int]] | None:
        """Breadth-first search over walkable, empty cells within RADIUS: (first move, target cell)
        for the nearest cell holding `target` (a material, or `cow`) beside a reachable cell."""
        world, start = self.game._world, tuple(int(v) for v in self._player.pos)
        is_target = _matcher(world, target)
        parents: dict[tuple[int, int], tuple[int, int] | None] = {start: None}
        queue = deque([start])
        while queue:
            cell = queue.popleft()
            for move in MOVES:
                near = (cell[0] + move[0], cell[1] + move[1])
                if near in parents or abs(near[0] - start[0]) > RADIUS or abs(near[1] - start[1]) > RADIUS:
                    continue
                if is_target(near):
                    return _first_move(parents, cell, start), near
                material, obj = world[near]
                if material in WALKABLE and obj is None:
                    parents[near] = cell
                    queue.append(near)
        return None


def _matcher(world: Any, target: str) -> Callable[[tuple[int, int]], bool]:
    if target == "cow":
        return lambda cell: type(world[cell][1]).__name__ == "Cow"
    return lambda cell: world[cell][0] == target


def _first_move(parents: dict, cell: tuple[int, int], start: tuple[int, int]) -> tuple[int, int] | None:
    """The first move of the path to `cell`, or None when `cell` is the start."""
    if cell == start:
        return None
    while parents[cell] != start:
        cell = parents[cell]
    return (cell[0] - start[0], cell[1] - start[1])


def tech_tree_player(env: Any, rng: np.random.Generator, noise: float = NOISE) -> TechTreePlayer:
    """The player for one episode of a Simon Says env on Crafter (its backend's `crafter.Env`);
    `noise`: the probability of a random action at each step."""
    if not 0 <= noise <= 1:
        raise ValueError(f"noise {noise}: expected a probability in [0, 1]")
    return TechTreePlayer(env.backend.env, rng, noise)

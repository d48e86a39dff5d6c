"""Wall layouts and object placement on the original's placement grid, in plain numpy (no MuJoCo).

Facts from openai/multi-agent-emergence-environments (`mae_envs/modules/walls.py`,
`mae_envs/modules/util.py`, `mae_envs/envs/hide_and_seek.py`, `examples/*.jsonnet`):
- the floor is a grid of cells (6 m / 30 = 0.2 m); walls run along cell centres, half a cell thick;
  outer walls are 4 m high, inner walls 0.5 m (a seeker on a ramp sees over them); doors are 2 cells;
- 'quadrant' walls off the corner quadrant (half the side) with two walls with a door each; with
  probability `door_dropout` (0.5 in the quadrant game) one of the two has no door;
- 'random_walls' splits the floor into 1-4 rooms (uniformly many) at least 6 cells apart, puts one door
  in each inner wall between the walls that meet it, and keeps the outer walls with `outer_wall_prob`
  (0.5 in the full game: agents may leave the floor and are then penalized);
- objects lie on free cells: in the quadrant game boxes in the quadrant room, seekers outside it, hiders
  and ramps anywhere; in random walls anywhere, teammates within 0.5 m (3 cells) of their first member.
"""

from dataclasses import dataclass

import numpy as np

CELL = 0.2
DOOR_CELLS = 2
MIN_ROOM_CELLS = 6
MAX_ROOMS = 4
OUTER_WALL_HEIGHT = 4.0
INNER_WALL_HEIGHT = 0.5
TOGETHER_CELLS = 3
LAYOUTS = ("quadrant", "random_walls")
# The most wall pieces a layout makes: 4 outer walls plus 2 (quadrant) or 3 (four rooms) inner
# walls, each cut in two by its door.
MAX_WALL_PIECES = 4 + 2 * (MAX_ROOMS - 1)


@dataclass(frozen=True)
class Wall:
    """A wall along cell centres: along y at column `line` (vertical) or along x at row `line`, cells lo..hi."""

    vertical: bool
    line: int
    lo: int
    hi: int
    height: float


@dataclass
class Layout:
    """One episode's walls, the cells they (and placed objects) take, and where each kind of object may go."""

    floor_size: float
    walls: list[Wall]
    occupied: np.ndarray  # (grid, grid) bool, indexed [x cell, y cell]
    regions: dict[str, np.ndarray]

    @property
    def grid(self) -> int:
        return self.occupied.shape[0]

    @property
    def cell(self) -> float:
        return self.floor_size / self.grid

    def centre(self, index: float) -> float:
        """World coordinate (m) of a cell index's centre; the floor is centred on the origin."""
        return -self.floor_size / 2 + (index + 0.5) * self.cell

    def wall_boxes(self) -> np.ndarray:
        """(n_walls, 6): centre xyz and half sizes of each wall as a box geom."""
        thick = self.cell / 4
        boxes = np.empty((len(self.walls), 6))
        for k, wall in enumerate(self.walls):
            along = (self.centre(wall.lo) + self.centre(wall.hi)) / 2
            half_length = (wall.hi - wall.lo) * self.cell / 2 + thick
            across = self.centre(wall.line)
            x, y, hx, hy = (across, along, thick, half_length) if wall.vertical else (along, across, half_length, thick)
            boxes[k] = (x, y, wall.height / 2, hx, hy, wall.height / 2)
        return boxes


def outer_walls(grid: int) -> list[Wall]:
    last = grid - 1
    return [Wall(v, line, 0, last, OUTER_WALL_HEIGHT) for v in (True, False) for line in (0, last)]


def with_doors(wall: Wall, junctions: list[int], rng: np.random.Generator) -> list[Wall]:
    """The wall cut by one door of DOOR_CELLS between two of its junctions (where walls meet it), as
    the original does; the whole wall when no stretch is long enough."""
    points = sorted({wall.lo, wall.hi, *(j for j in junctions if wall.lo < j < wall.hi)})
    stretches = [(a, b) for a, b in zip(points, points[1:], strict=False) if b - a >= DOOR_CELLS + 1]
    if not stretches:
        return [wall]
    a, b = stretches[rng.integers(len(stretches))]
    start = a + int(rng.integers(1, b - a - DOOR_CELLS + 1))
    pieces = [(wall.lo, start - 1), (start + DOOR_CELLS, wall.hi)]
    return [Wall(wall.vertical, wall.line, lo, hi, wall.height) for lo, hi in pieces if hi > lo]


def quadrant_walls(grid: int, door_dropout: float, rng: np.random.Generator) -> list[Wall]:
    """Outer walls and the two walls of the corner room (+x, -y), with doors."""
    side = grid // 2
    inner = [Wall(True, grid - side, 0, side, INNER_WALL_HEIGHT), Wall(False, side, grid - side, grid - 1, INNER_WALL_HEIGHT)]
    closed = int(rng.integers(2)) if rng.uniform() < door_dropout else -1
    walls = outer_walls(grid)
    for k, wall in enumerate(inner):
        walls += [wall] if k == closed else with_doors(wall, [], rng)
    return walls


def random_walls(grid: int, outer_wall_prob: float, rng: np.random.Generator) -> list[Wall]:
    """1 to MAX_ROOMS rooms made by splitting a room in two at a time, one door per inner wall."""
    rooms = [(0, 0, grid - 1, grid - 1)]  # the wall lines around each room: x0, y0, x1, y1
    inner: list[Wall] = []
    for _ in range(int(rng.integers(MAX_ROOMS))):
        splits = [(room, vertical) for room in rooms for vertical in (True, False)
                  if room[2 + (not vertical)] - room[not vertical] > 2 * MIN_ROOM_CELLS + 1]
        if not splits:
            break
        (x0, y0, x1, y1), vertical = splits[rng.integers(len(splits))]
        rooms.remove((x0, y0, x1, y1))
        if vertical:
            cut = int(rng.integers(x0 + MIN_ROOM_CELLS + 1, x1 - MIN_ROOM_CELLS))
            inner.append(Wall(True, cut, y0, y1, INNER_WALL_HEIGHT))
            rooms += [(x0, y0, cut, y1), (cut, y0, x1, y1)]
        else:
            cut = int(rng.integers(y0 + MIN_ROOM_CELLS + 1, y1 - MIN_ROOM_CELLS))
            inner.append(Wall(False, cut, x0, x1, INNER_WALL_HEIGHT))
            rooms += [(x0, y0, x1, cut), (x0, cut, x1, y1)]
    walls = outer_walls(grid) if rng.uniform() < outer_wall_prob else []
    for wall in inner:
        meeting = [o.line for o in inner if o.vertical != wall.vertical and wall.line in (o.lo, o.hi)]
        walls += with_doors(wall, meeting, rng)
    return walls


def make_layout(kind: str, floor_size: float, rng: np.random.Generator, door_dropout: float, outer_wall_prob: float) -> Layout:
    """A fresh layout of `kind` (one of LAYOUTS) with its walls marked on the grid."""
    grid = round(floor_size / CELL)
    walls = quadrant_walls(grid, door_dropout, rng) if kind == "quadrant" else random_walls(grid, outer_wall_prob, rng)
    occupied = np.zeros((grid, grid), dtype=bool)
    for wall in walls:
        cells = (wall.line, slice(wall.lo, wall.hi + 1)) if wall.vertical else (slice(wall.lo, wall.hi + 1), wall.line)
        occupied[cells] = True
    return Layout(floor_size, walls, occupied, regions(grid))


def open_floor(floor_size: float) -> Layout:
    """A floor with no walls (Oasis's): objects may lie anywhere on it but its rim of cells."""
    grid = round(floor_size / CELL)
    return Layout(floor_size, [], np.zeros((grid, grid), dtype=bool), regions(grid))


def regions(grid: int) -> dict[str, np.ndarray]:
    """Where objects may lie: anywhere inside the outer walls, in the quadrant room, or outside it."""
    anywhere = np.zeros((grid, grid), dtype=bool)
    anywhere[1:-1, 1:-1] = True
    side = grid // 2
    room = np.zeros_like(anywhere)
    room[grid - side + 1 : grid - 1, 1:side] = True
    walled = np.zeros_like(anywhere)
    walled[grid - side :, : side + 1] = True
    return {"anywhere": anywhere, "quadrant": room, "outside_quadrant": anywhere & ~walled}


def footprint(half_xy: np.ndarray, cell: float) -> tuple[int, int]:
    """Cells an object of these half extents covers on the grid."""
    cells = np.ceil(np.round(2 * np.asarray(half_xy) / cell, 6)).astype(int)
    return int(cells[0]), int(cells[1])


@dataclass(frozen=True)
class Item:
    """One object to place: its half extents in x and y, its region, an earlier item to start near (or
    None), and whether it may lie turned by 90 degrees (the elongated boxes lie along x or y)."""

    half_xy: tuple[float, float]
    region: str
    near: int | None = None
    turnable: bool = False


def free_anchor(blocked: np.ndarray, size: tuple[int, int], rng: np.random.Generator) -> tuple[int, int] | None:
    """A random lowest corner cell of a free `size` window on the grid, or None (integral-image window sums)."""
    fx, fy = size
    if fx > blocked.shape[0] or fy > blocked.shape[1]:
        return None
    s = np.pad(blocked.astype(np.int32), ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    window = s[fx:, fy:] - s[:-fx, fy:] - s[fx:, :-fy] + s[:-fx, :-fy]
    free = np.argwhere(window == 0)
    if not len(free):
        return None
    i, j = free[rng.integers(len(free))]
    return int(i), int(j)


def _halves(item: Item, turn: int) -> np.ndarray:
    half = np.asarray(item.half_xy)
    return half[::-1] if turn else half


def _spot(
    layout: Layout, item: Item, anchors: list[tuple[int, int]], rng: np.random.Generator
) -> tuple[int, tuple[int, int]] | None:
    """(quarter turns, lowest corner cell) of a free spot for the item: near its partner when there is
    room there, else anywhere in its region; both ways round for a turnable item."""
    region = layout.regions[item.region]
    candidates = [region]
    if item.near is not None:
        x, y = anchors[item.near]
        near = np.zeros_like(region)
        near[max(0, x - TOGETHER_CELLS) : x + TOGETHER_CELLS + 1, max(0, y - TOGETHER_CELLS) : y + TOGETHER_CELLS + 1] = True
        candidates.insert(0, region & near)
    for allowed in candidates:
        for turn in rng.permutation(2) if item.turnable else (0,):
            anchor = free_anchor(layout.occupied | ~allowed, footprint(_halves(item, turn), layout.cell), rng)
            if anchor is not None:
                return int(turn), anchor
    return None


def place(layout: Layout, items: list[Item], rng: np.random.Generator) -> np.ndarray | None:
    """(len(items), 3): x, y and yaw of each item on free cells (marking them taken), or None when one does not fit."""
    placed = np.empty((len(items), 3))
    anchors: list[tuple[int, int]] = []
    for k, item in enumerate(items):
        spot = _spot(layout, item, anchors, rng)
        if spot is None:
            return None
        turn, (i, j) = spot
        anchors.append((i, j))
        half = _halves(item, turn)
        size = footprint(half, layout.cell)
        layout.occupied[i : i + size[0], j : j + size[1]] = True
        slack = np.array(size) * layout.cell - 2 * half
        centre = np.array([layout.centre(i + (size[0] - 1) / 2), layout.centre(j + (size[1] - 1) / 2)])
        placed[k] = (*(centre + rng.uniform(-slack / 2, slack / 2)), np.pi / 2 * turn)
    return placed

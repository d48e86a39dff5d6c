"""The env_config of `hide_and_seek`: every key, its range, and whether the objects fit the floor."""

import math
from typing import Literal

from pydantic import Field, model_validator

from rapid.envs.hide_and_seek.layouts import CELL, LAYOUTS, Item, footprint, regions
from rapid.envs.hide_and_seek.scene import AGENT_RADIUS, BOX_HALF, ELONGATED_BOX_HALF, RAMP_HALF
from rapid.platform.plugins import Strict
from rapid.platform.schema_errors import KeyProblem

# Objects may cover at most this share of the cells of the region they start in, so that random
# placement always finds room.
MAX_FILL = 0.5
REGION_NAMES = {"anywhere": "floor", "quadrant": "quadrant room", "outside_quadrant": "floor outside the quadrant room"}


class TopCameraSettings(Strict):
    """The rendering keys of every game on this engine's arena."""

    render_mode: Literal["rgb_array"] | None = Field(None, description="'rgb_array': render() returns top-camera frames")
    width: int = Field(256, ge=16, le=4096, description="rendered frame width (pixels)")
    height: int = Field(256, ge=16, le=4096, description="rendered frame height (pixels)")


class HideAndSeekConfig(TopCameraSettings):
    """Hide-and-seek's settings; the defaults are the original's full game (examples/hide_and_seek_full.jsonnet)
    where it has one value, and mid-range counts where it draws them (3-9 boxes, 3-9 of them elongated)."""

    n_hiders: int = Field(2, ge=1, le=3, description="hiders (team 0), named hider_0, hider_1, ...")
    n_seekers: int = Field(2, ge=1, le=3, description="seekers (team 1), named seeker_0, ...")
    n_boxes: int = Field(6, ge=0, le=9, description="movable boxes, cubes and elongated ones together")
    n_elongated_boxes: int | None = Field(None, ge=0, le=9, description="boxes of 1.65 x 0.15 m, not 0.5 m cubes (null: half)")
    n_ramps: int = Field(2, ge=0, le=2, description="movable 45-degree ramps of 0.5 m")
    layout: Literal[LAYOUTS] = Field("random_walls", description="'random_walls' (1-4 rooms) or 'quadrant' (walled corner)")
    horizon: int = Field(240, ge=1, le=100_000, description="steps per episode; every agent is truncated at the last")
    prep_fraction: float = Field(0.4, ge=0.0, lt=1.0, description="share of the steps that are the preparation phase")
    floor_size: float = Field(6.0, ge=4.0, le=18.0, description="side of the square floor inside the outer walls (m)")
    bounds_size: float = Field(18.0, gt=0.0, le=100.0, description="side (m) of the square around the floor; outside, -10")
    door_dropout: float = Field(0.5, ge=0.0, le=1.0, description="quadrant: probability that one of the room's walls has no door")
    outer_wall_prob: float = Field(0.5, ge=0.0, le=1.0, description="random_walls: probability that the floor has outer walls")
    n_lidar: int = Field(30, ge=1, le=360, description="lidar rays per agent, evenly around it")
    lidar_range: float = Field(6.0, gt=0.0, le=100.0, description="lidar range (m); observations are distance / range")
    seed: int | None = Field(None, description="seed of the first episode's layout and placement (reset(seed=...) overrides it)")

    @model_validator(mode="after")
    def _consistent(self) -> "HideAndSeekConfig":
        if self.n_elongated_boxes is not None and self.n_elongated_boxes > self.n_boxes:
            raise KeyProblem("n_elongated_boxes", f"{self.n_elongated_boxes} elongated boxes is more than n_boxes={self.n_boxes}")
        if self.bounds_size < self.floor_size:
            raise KeyProblem("bounds_size", f"{self.bounds_size} m is smaller than the floor (floor_size={self.floor_size} m)")
        self._check_fit()
        return self

    def placement(self) -> list[Item]:
        """What is placed where at every reset, in body order: hiders, seekers, boxes, ramps."""
        quadrant = self.layout == "quadrant"
        agent = (AGENT_RADIUS, AGENT_RADIUS)
        hiders = [Item(agent, "anywhere", near=None if quadrant or k == 0 else 0) for k in range(self.n_hiders)]
        seekers = [Item(agent, "outside_quadrant" if quadrant else "anywhere", near=None if quadrant or k == 0 else self.n_hiders)
                   for k in range(self.n_seekers)]
        box_region = "quadrant" if quadrant else "anywhere"
        boxes = [Item(half[:2], box_region, turnable=True) for half in self.box_halves()]
        ramps = [Item(RAMP_HALF[:2], "anywhere")] * self.n_ramps
        return hiders + seekers + boxes + ramps

    def box_halves(self) -> list[tuple[float, float, float]]:
        """Half extents of every box: the cubes, then the elongated ones."""
        elongated = self.n_boxes // 2 if self.n_elongated_boxes is None else self.n_elongated_boxes
        return [BOX_HALF] * (self.n_boxes - elongated) + [ELONGATED_BOX_HALF] * elongated

    def _check_fit(self) -> None:
        """A KeyProblem naming the count when the objects of a region need more than MAX_FILL of its cells."""
        grid = round(self.floor_size / CELL)
        cell = self.floor_size / grid
        areas = {name: int(mask.sum()) for name, mask in regions(grid).items()}
        items = self.placement()
        for region, area in areas.items():
            within = [item for item in items if region == "anywhere" or item.region == region]
            need = sum(math.prod(footprint(item.half_xy, cell)) for item in within)
            if need > MAX_FILL * area:
                if region == "quadrant":
                    key, what = "n_boxes", f"{self.n_boxes} boxes"
                else:
                    key = self._largest_count()
                    what = f"{self.n_hiders} hiders, {self.n_seekers} seekers, {self.n_boxes} boxes and {self.n_ramps} ramps"
                raise KeyProblem(key, f"{what} do not fit the {REGION_NAMES[region]}: they need {need} of its {area} cells "
                                      f"of {cell:.2f} m, more than {MAX_FILL:.0%}; use fewer or a larger floor_size "
                                      f"(now {self.floor_size} m)")

    def _largest_count(self) -> str:
        counts = {"n_boxes": self.n_boxes, "n_hiders": self.n_hiders, "n_seekers": self.n_seekers, "n_ramps": self.n_ramps}
        return max(counts, key=counts.__getitem__)

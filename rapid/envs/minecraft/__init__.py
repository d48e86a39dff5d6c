"""Minecraft "Simon Says" (Kanitscheider et al. 2021, PAPERS.md section 5): goal-conditioned tasks
over the items of a Minecraft-like game.

simon_says.py is the task env (`simon_says` on Crafter, `simon_says_minerl` on MineRL) over the
backend contract of backend.py; crafter_backend.py and minerl.py are the two backends (MineRL
runs in its own interpreter, which only the cluster image has: minerl_worker.py runs there).
The curriculum that picks each episode's task and the exploration bonus are plug-ins of their
own (`rapid/training/curriculum/`).
"""

from typing import Any

from pydantic import Field, model_validator

from rapid.envs.minecraft.minerl import MineRLBackend, MineRLSettings, minerl_missing
from rapid.envs.minecraft.minerl_actions import MINERL_ITEMS
from rapid.envs.minecraft.simon_says import SUCCESS, SimonSaysConfig, achievement_key, success_key
from rapid.platform.episode_metrics import EpisodeMetric
from rapid.platform.plugins import validate_settings
from rapid.platform.registry import CALLBACKS, ENVS, PLAYERS, import_attr
from rapid.platform.schema_errors import KeyProblem

# Crafter's 22 achievements (crafter.constants.achievements, which lists them alphabetically), the
# tasks of `simon_says`, in the order of the tech tree: each after those it needs, survival first.
# The score protocol asks for them in this order; listed here so that the registry knows each
# task's metric without importing Crafter.
CRAFTER_ITEMS = (
    "collect_sapling", "place_plant", "wake_up", "collect_drink", "collect_wood", "eat_cow", "place_table",
    "defeat_zombie", "make_wood_pickaxe", "make_wood_sword", "collect_stone", "place_stone", "eat_plant",
    "defeat_skeleton", "make_stone_pickaxe", "make_stone_sword", "collect_coal", "place_furnace", "collect_iron",
    "make_iron_pickaxe", "make_iron_sword", "collect_diamond",
)
# Crafter's standard episode, the published score's protocol.
CRAFTER_LENGTH = 10000


class CrafterConfig(SimonSaysConfig):
    """env_config of `simon_says`: the tasks, plus Crafter's world size and image size."""

    area: list[int] = Field([64, 64], min_length=2, max_length=2,
                            description="the world's [width, height] in cells (Crafter's standard: 64x64; smaller resets faster)")
    image_size: int = Field(64, ge=16, le=512, description="the observed image's side in pixels")

    @model_validator(mode="after")
    def _area(self) -> "CrafterConfig":
        if min(self.area) < 16:
            raise KeyProblem("area", f"{self.area}: each side must be at least 16 cells (the view is 9x9 around the player)")
        return self


def make_simon_says(env_config: dict[str, Any]) -> Any:
    """Simon Says on Crafter, its env_config validated first (a bad key or item fails with its name)."""
    from rapid.envs.minecraft.crafter_backend import CrafterBackend
    from rapid.envs.minecraft.simon_says import SimonSaysEnv

    config = validate_settings(CrafterConfig, dict(env_config), ("env_config",))
    length = CRAFTER_LENGTH if config.score_protocol else None
    return SimonSaysEnv(CrafterBackend(tuple(config.area), config.image_size, length), config)


class MineRLTaskConfig(SimonSaysConfig, MineRLSettings):
    """env_config of `simon_says_minerl`: the tasks, plus which MineRL env runs under which interpreter."""


def minerl_lacking(env_config: dict[str, Any]) -> str | None:
    """`rapid run` refuses (exit 2, before Ray starts) where MineRL's interpreter lacks MineRL;
    `rapid submit` and `rapid validate` only note it: the cluster image has it."""
    python = env_config.get("python")
    return minerl_missing(MineRLSettings(python=python) if isinstance(python, str) else MineRLSettings())


def make_simon_says_minerl(env_config: dict[str, Any]) -> Any:
    """Simon Says on MineRL, its env_config validated first; MineRL's process starts at the first reset."""
    from rapid.envs.minecraft.simon_says import SimonSaysEnv

    config = validate_settings(MineRLTaskConfig, dict(env_config), ("env_config",))
    settings = MineRLSettings(**{key: getattr(config, key) for key in MineRLSettings.model_fields})
    return SimonSaysEnv(MineRLBackend(settings), config)


def task_metrics(items: tuple[str, ...]) -> dict[str, EpisodeMetric]:
    """Success overall and per target item (each over the episodes that named it), and the
    score protocol's per-item flags."""
    metrics = {SUCCESS: EpisodeMetric(SUCCESS)}
    metrics.update((success_key(item), EpisodeMetric(success_key(item))) for item in items)
    metrics.update((achievement_key(item), EpisodeMetric(achievement_key(item))) for item in items)
    return metrics


ENVS.add(
    "simon_says",
    lambda: make_simon_says,
    "Minecraft Simon Says on Crafter: each episode names one of 22 achievements to obtain; reward 1 when obtained",
    episode_metrics=task_metrics(CRAFTER_ITEMS),
)
ENVS.add(
    "simon_says_minerl",
    lambda: make_simon_says_minerl,
    "Minecraft Simon Says on MineRL (Java Minecraft; needs the cluster image, clusters/Dockerfile): the diamond tech tree",
    episode_metrics=task_metrics(MINERL_ITEMS),
    check_machine=minerl_lacking,
)
CALLBACKS.add(
    "crafter_score",
    lambda: import_attr("rapid.envs.minecraft.crafter_score", "CrafterScore"),
    "Crafter's score (geometric mean of achievement success rates, %) from episodes run with score_protocol: true",
)
PLAYERS.add(
    "crafter_tech_tree",
    lambda: import_attr("rapid.envs.minecraft.scripted_player", "tech_tree_player"),
    "a scripted Crafter player that reads the world map and works up the tech tree, with noise (VPT's demonstrator)",
)

"""Hide-and-seek (Baker et al. 2019, PAPERS.md section 3): hiders and seekers among walls, boxes and ramps on MuJoCo.

env_config is `HideAndSeekConfig` (config.py; a bad key or count fails with its name). Agents are
named `hider_<i>` and `seeker_<i>`, so a job maps them to policies with globs (`hider_*: hiders`).
The observation contract a policy reads is in contract.py (ENTITY_TYPES, FEATURE_SIZES, ...).

The package's parts, by the question each answers. The engine, which another game on the same arena
(RUSP's Oasis) reuses: layouts.py (where walls and objects go), scene.py (the MuJoCo model),
world.py (its state and physics step), perception.py (sight and lidar), manipulation.py (grab and
lock). The game: rules.py (teams, preparation, rewards, metrics), observations.py and contract.py
(what each agent observes), config.py (env_config), env.py (the ParallelEnv).
"""

from typing import TYPE_CHECKING, Any

from rapid.envs.hide_and_seek.config import HideAndSeekConfig
from rapid.envs.hide_and_seek.contract import (
    ACTION_NVEC,
    AGENT_FEATURES,
    ENTITY_TYPES,
    FEATURE_SIZES,
    FEATURES,
    LIDAR_KEY,
    OBJECT_FEATURES,
    SELF_FEATURES,
    SELF_KEY,
    SELF_SIZE,
    observation_keys,
    present_key,
    visible_key,
)
from rapid.envs.hide_and_seek.rules import METRIC_KEYS
from rapid.platform.episode_metrics import EpisodeMetric
from rapid.platform.plugins import validate_settings
from rapid.platform.registry import ENVS

if TYPE_CHECKING:
    from rapid.envs.hide_and_seek.env import HideAndSeekEnv

__all__ = [
    "ACTION_NVEC", "AGENT_FEATURES", "ENTITY_TYPES", "FEATURES", "FEATURE_SIZES", "LIDAR_KEY", "OBJECT_FEATURES",
    "SELF_FEATURES", "SELF_KEY", "SELF_SIZE", "HideAndSeekConfig", "make_hide_and_seek", "observation_keys",
    "present_key", "visible_key",
]


def make_hide_and_seek(env_config: dict[str, Any]) -> "HideAndSeekEnv":
    """The env for an env_config, validated first: a SettingsError (a ValueError) names the bad key."""
    from rapid.envs.hide_and_seek.env import HideAndSeekEnv  # noqa: F811  (MuJoCo's model code, loaded when used)

    return HideAndSeekEnv(validate_settings(HideAndSeekConfig, dict(env_config), ("env_config",)))


ENVS.add(
    "hide_and_seek",
    lambda: make_hide_and_seek,
    "hide-and-seek: 1-3 hiders vs 1-3 seekers with boxes, ramps, grab and lock in random rooms or a walled quadrant",
    episode_metrics={key: EpisodeMetric(key) for key in METRIC_KEYS},
)

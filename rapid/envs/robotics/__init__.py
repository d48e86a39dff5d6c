"""Robot-hand and arm tasks (Shadow Hand, Fetch)."""

from typing import Any

import gymnasium as gym

from rapid.envs.robotics import dactyl  # noqa: F401  (registers the `dactyl` randomization preset)
from rapid.envs.robotics.goal_tasks import register_goal_tasks
from rapid.envs.wrapping import make_env
from rapid.platform.registry import ENVS
from rapid.training.episode_metrics import EpisodeMetric

# What a hand episode reports at its end (rapid logs them as env_runners/<key>).
HAND_EPISODE_METRICS = {
    "consecutive_successes": EpisodeMetric("consecutive_successes"),
    "dropped": EpisodeMetric("dropped"),
    "sim_unstable": EpisodeMetric("sim_unstable", "sum"),
}


def make_shadow_hand_block(env_config: dict[str, Any]) -> gym.Env:
    """The hand with Dactyl's randomization unless env_config says otherwise (`randomization: null`)."""
    from rapid.envs.robotics.shadow_hand_block import ShadowHandBlock

    return make_env(ShadowHandBlock, {"randomization": "dactyl", **env_config})


ENVS.add(
    "ShadowHandBlock-v0",
    lambda: make_shadow_hand_block,
    "Dactyl: a Shadow Hand turns a block to goal after goal (0.4 rad); Dactyl randomization by default",
    episode_metrics=HAND_EPISODE_METRICS,
)
register_goal_tasks()

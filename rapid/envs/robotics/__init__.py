"""Robot-hand and arm tasks (Shadow Hand, Fetch)."""

from typing import Any

import gymnasium as gym

from rapid.envs.robotics import dactyl  # noqa: F401  (registers the `dactyl` randomization preset)
from rapid.envs.robotics.goal_tasks import register_goal_tasks
from rapid.platform.episode_metrics import EpisodeMetric
from rapid.platform.registry import ENVS

# What a hand episode reports at its end (rapid logs them as env_runners/<key>); its
# sim_unstable is counted by the physics guard, as every MuJoCo env's.
HAND_EPISODE_METRICS = {
    "consecutive_successes": EpisodeMetric("consecutive_successes"),
    "dropped": EpisodeMetric("dropped"),
}


def make_shadow_hand_block(env_config: dict[str, Any]) -> gym.Env:
    from rapid.envs.robotics.shadow_hand_block import ShadowHandBlock

    return ShadowHandBlock(**env_config)


ENVS.add(
    "ShadowHandBlock-v0",
    lambda: make_shadow_hand_block,
    "Dactyl: a Shadow Hand turns a block to goal after goal (0.4 rad); Dactyl randomization by default",
    episode_metrics=HAND_EPISODE_METRICS,
    defaults={"randomization": "dactyl"},  # `randomization: null` turns it off
)
register_goal_tasks()

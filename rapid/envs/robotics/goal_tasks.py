"""gymnasium-robotics' multi-goal tasks (Plappert et al. 2018), under their own ids.

Each observation is a dict of observation, achieved_goal and desired_goal, the reward is
sparse (0 within tolerance, else -1) and `compute_reward` lets HER relabel any transition.
"""

import contextlib
import io
from functools import partial
from typing import Any

import gymnasium as gym

from rapid.platform.episode_metrics import EpisodeMetric
from rapid.platform.registry import ENVS

GOAL_TASKS = {
    "FetchReach-v4": "Fetch arm: move the gripper to a goal (5 cm); sparse reward",
    "FetchPush-v4": "Fetch arm: push a block to a goal on the table; sparse reward",
    "FetchSlide-v4": "Fetch arm: slide a puck to a goal out of reach; sparse reward",
    "FetchPickAndPlace-v4": "Fetch arm: pick a block up and place it at a goal, maybe in the air; sparse reward",
    "HandReach-v3": "Shadow Hand: bring the fingertips to goal positions; sparse reward",
    "HandManipulateBlock-v1": "Shadow Hand: rotate and move a block to a goal pose; sparse reward",
    "HandManipulateEgg-v1": "Shadow Hand: rotate an egg to a goal pose; sparse reward",
    "HandManipulatePen-v1": "Shadow Hand: rotate a pen to a goal pose; sparse reward",
}
# The share of episodes whose last step is within the goal's tolerance, as the paper reports it.
GOAL_EPISODE_METRICS = {"success_rate": EpisodeMetric("is_success")}


def make_goal_task(env_id: str, env_config: dict[str, Any]) -> gym.Env:
    """`gym.make` of a gymnasium-robotics task (registered on first use)."""
    # Its import prints a notice about the Adroit envs to stderr in every process.
    with contextlib.redirect_stderr(io.StringIO()):
        import gymnasium_robotics

    gym.register_envs(gymnasium_robotics)
    return gym.make(env_id, **env_config)


def register_goal_tasks() -> None:
    """Register each task so `env: FetchPush-v4` works in a spec, with its success rate metric."""
    for env_id, summary in GOAL_TASKS.items():
        load = partial(partial, make_goal_task, env_id)
        ENVS.add(env_id, load, summary, episode_metrics=GOAL_EPISODE_METRICS, goal_env=True)

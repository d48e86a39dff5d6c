"""Gymnasium's MuJoCo and classic-control tasks, registered under their Gymnasium ids."""

from functools import partial
from typing import Any

import gymnasium as gym

from rapid.platform.registry import ENVS

MUJOCO_TASKS = {
    "InvertedPendulum-v5": "MuJoCo cart-pole, continuous; max return 1,000",
    "InvertedDoublePendulum-v5": "MuJoCo double pendulum on a cart; max return about 9,350 (quickstart)",
    "Reacher-v5": "MuJoCo two-link arm reaching a random target",
    "Pusher-v5": "MuJoCo 7-DoF arm pushing a puck to a goal",
    "HalfCheetah-v5": "MuJoCo planar cheetah running forward",
    "Hopper-v5": "MuJoCo one-legged hopper",
    "Walker2d-v5": "MuJoCo planar biped walker",
    "Swimmer-v5": "MuJoCo three-link swimmer",
    "Ant-v5": "MuJoCo quadruped running forward",
    "Humanoid-v5": "MuJoCo humanoid running forward",
}
CLASSIC_TASKS = {
    "CartPole-v1": "classic cart-pole, discrete actions (for DQN); max return 500",
    "Pendulum-v1": "classic pendulum swing-up, continuous actions",
}


def make_gymnasium_env(env_id: str, env_config: dict[str, Any]) -> gym.Env:
    """`gym.make` with the spec's env_config as keyword arguments (e.g. render_mode)."""
    return gym.make(env_id, **env_config)


def register_gymnasium_envs() -> None:
    """Register each task so `env: <id>` works in a spec."""
    for env_id, summary in {**MUJOCO_TASKS, **CLASSIC_TASKS}.items():
        ENVS.add(env_id, lambda env_id=env_id: partial(make_gymnasium_env, env_id), summary)

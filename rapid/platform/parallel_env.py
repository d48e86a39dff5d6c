"""A PettingZoo `ParallelEnv` as RLlib's `MultiAgentEnv`, so a workload registers one like any env.

Leaner than RLlib's ParallelPettingZooEnv: spaces come from `possible_agents` (an env may
have no agents before its first reset), the episode ends for everyone when the env has no
agents left, and `metadata` (render_fps) and `render()` pass through for `rapid eval --video`.
"""

from typing import Any

import gymnasium as gym
from pettingzoo.utils.env import ParallelEnv
from ray.rllib.env.multi_agent_env import MultiAgentEnv


class ParallelEnvAdapter(MultiAgentEnv):
    """Per-agent dicts as PettingZoo gives them, plus RLlib's `__all__` episode end."""

    def __init__(self, env: ParallelEnv) -> None:
        super().__init__()
        self.env = env
        self.possible_agents = list(env.possible_agents)
        self.agents = list(env.possible_agents)
        self.observation_spaces = {a: env.observation_space(a) for a in self.possible_agents}
        self.action_spaces = {a: env.action_space(a) for a in self.possible_agents}
        self.observation_space = gym.spaces.Dict(self.observation_spaces)
        self.action_space = gym.spaces.Dict(self.action_spaces)
        self.metadata = getattr(env, "metadata", {})
        self.render_mode = getattr(env, "render_mode", None)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        observations, infos = self.env.reset(seed=seed, options=options)
        self.agents = list(self.env.agents)
        return observations, infos

    def step(self, actions: dict[Any, Any]) -> tuple[dict, dict, dict, dict, dict]:
        observations, rewards, terminated, truncated, infos = self.env.step(actions)
        # On the episode's last step PettingZoo empties `agents`; RLlib (its env checker too)
        # expects every agent with an observation among them until the next reset.
        self.agents = list(self.env.agents) or list(observations)
        terminated, truncated = dict(terminated), dict(truncated)
        over = not self.env.agents
        terminated["__all__"] = over and all(terminated.values())
        truncated["__all__"] = over and not terminated["__all__"]
        return observations, rewards, terminated, truncated, infos

    def render(self) -> Any:
        return self.env.render()

    def close(self) -> None:
        self.env.close()


def as_rllib_env(env: Any) -> Any:
    """A ParallelEnv adapted; any other env as it is."""
    return ParallelEnvAdapter(env) if isinstance(env, ParallelEnv) else env

"""The env a job steps, made the same way everywhere (EnvRunners, preflight, `rapid eval`, replay buffers):

    env = <the registered env>(env_config over the env's defaults, without the keys below)
    env = <wrapper>(env, env_config[<key>], <its central actor>)   # each registered wrapper whose
                                                                     # key env_config sets (or that is
                                                                     # on by default), in order
    env = ParallelEnvAdapter(env)   # a PettingZoo ParallelEnv becomes RLlib's MultiAgentEnv

`rapid list wrapper` prints the wrappers and their keys. With `vector_threads: N` (N > 1)
RLlib asks for whole vectors instead (it passes `num_envs`), and gets a ThreadedVectorEnv of
such envs stepping in N threads.
"""

from collections.abc import Iterator
from functools import partial
from typing import Any

from rapid.envs.threaded_vector import ThreadedVectorEnv
from rapid.platform.parallel_env import as_rllib_env
from rapid.platform.plugins import EnvWrapper, validate_settings
from rapid.platform.registry import ENVS, WRAPPERS

VECTOR_KEYS = ("num_envs", "vector_threads")


def env_config_of(env_id: str, env_config: dict[str, Any]) -> dict[str, Any]:
    """The env's own defaults (the hand's randomization preset) with the job's env_config over them."""
    return {**ENVS.entry(env_id).extra.get("defaults", {}), **env_config}


def wrapper_stack(env_config: dict[str, Any]) -> Iterator[tuple[str, EnvWrapper, Any]]:
    """(key, wrapper, validated settings) of each wrapper env_config turns on, or that is on by
    default and env_config leaves alone, innermost first."""
    chosen = {}
    for entry, wrapper in WRAPPERS.loaded():
        settings = env_config.get(entry.name, wrapper.default)
        if settings is not None:
            chosen[entry.name] = (wrapper, settings)
    for key, (wrapper, settings) in sorted(chosen.items(), key=lambda item: item[1][0].order):
        yield key, wrapper, validate_settings(wrapper.schema, settings, ("env_config", key))


def make_env(env_id: str, env_config: dict[str, Any], actors: dict[str, Any] | None = None) -> Any:
    """One wrapped env, or the vector of `num_envs` of them that RLlib's vector_entry_point mode asks for.
    `actors` are the run's central actors by plug-in key (none outside a trial)."""
    config = env_config_of(env_id, dict(env_config))
    single = {k: v for k, v in config.items() if k not in VECTOR_KEYS}
    if "num_envs" not in config:
        return _wrapped(env_id, single, actors or {})
    make_one = partial(_wrapped, env_id, single, actors or {})
    return ThreadedVectorEnv([make_one] * config["num_envs"], config.get("vector_threads", 1))


def _wrapped(env_id: str, env_config: dict[str, Any], actors: dict[str, Any]) -> Any:
    stack = list(wrapper_stack(env_config))
    env = ENVS.get(env_id)({k: v for k, v in env_config.items() if k not in WRAPPERS})
    for key, wrapper, settings in stack:
        env = wrapper.wrap(env, settings, actors.get(key))
    return as_rllib_env(env)

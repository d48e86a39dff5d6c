"""The wrapper stack an env_config asks for, in order, for every env of rapid.

    env = <the registered env>(env_config without the keys below)
    env = DomainRandomization(env, randomization)   # `randomization:` a preset name or a mapping
    env = ADRClient(env, adr)                       # `adr:` automatic domain randomization

With `vector_threads: N` (N > 1) RLlib asks for whole vectors instead (it passes `num_envs`),
and gets a ThreadedVectorEnv of such envs stepping in N threads.
"""

from collections.abc import Callable
from functools import partial
from typing import Any

import gymnasium as gym

from rapid.envs.domain_randomization import DomainRandomization, resolve_randomization
from rapid.envs.threaded_vector import ThreadedVectorEnv

WRAPPER_KEYS = ("randomization", "adr")
VECTOR_KEYS = ("num_envs", "vector_threads")


def make_env(make: Callable[..., gym.Env], env_config: dict[str, Any]) -> gym.Env:
    """One wrapped env, or the vector of `num_envs` of them that RLlib's vector_entry_point mode asks for."""
    single = {k: v for k, v in env_config.items() if k not in VECTOR_KEYS}
    if "num_envs" not in env_config:
        return wrapped(make, single)
    return ThreadedVectorEnv([partial(wrapped, make, single)] * env_config["num_envs"], env_config.get("vector_threads", 1))


def wrapped(make: Callable[..., gym.Env], env_config: dict[str, Any]) -> gym.Env:
    """`make(**kwargs)` with the env's own keyword arguments, then the wrappers env_config names."""
    env = make(**{k: v for k, v in env_config.items() if k not in WRAPPER_KEYS})
    if env_config.get("randomization") is not None:
        env = DomainRandomization(env, resolve_randomization(env_config["randomization"]))
    if env_config.get("adr") is not None:
        # Imported here: rapid.training.adr itself builds on this package's wrappers.
        from rapid.training.adr import ADRClient, ADRSettings

        if not isinstance(env, DomainRandomization):
            raise ValueError("adr: needs a `randomization:` whose ranges it can move")
        env = ADRClient(env, ADRSettings.model_validate(env_config["adr"]))
    return env

"""Claims `env_config.randomization`, which rapid's own domain randomization owns."""

from rapid.platform.plugins import EnvWrapper
from rapid.platform.registry import WRAPPERS


def register() -> None:
    WRAPPERS.add("randomization", lambda: EnvWrapper(wrap=lambda env, s, a: env, schema=dict), "a second randomization")

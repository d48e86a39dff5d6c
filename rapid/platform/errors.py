"""The one error type a user sees: a clear paragraph and exit status 2, never a traceback."""

import difflib
import logging
from collections.abc import Iterable

# Lines every run would print and a researcher can do nothing about.
QUIET_LOGGERS = (
    "ray._private.authentication.authentication_token_setup",  # "token auth is on": Ray's default
    "ray.rllib.algorithms.algorithm_config",  # "you are running on the new API stack"
    "ray.rllib.core.rl_module.rl_module",  # a deprecation notice when a checkpointed module loads
    "ray.rllib.algorithms.sac.sac",  # "you are running SAC on the new API stack"
)


class RapidError(Exception):
    """Bad input or an unusable cluster: the CLI prints the message and exits with status 2."""

    exit_status = 2


def close_names(name: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """The valid names nearest to a misspelt one, best first (case-insensitive)."""
    choices = list(choices)
    by_lower = {c.lower(): c for c in choices}
    hits = difflib.get_close_matches(name.lower(), list(by_lower), n=n, cutoff=0.5)
    return [by_lower[h] for h in hits]


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' when a close valid name exists, else ''."""
    hits = close_names(name, choices, n=1)
    return f" (did you mean '{hits[0]}'?)" if hits else ""


def quiet_ray_logs() -> None:
    """Silence QUIET_LOGGERS (`--verbose` keeps them)."""
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)

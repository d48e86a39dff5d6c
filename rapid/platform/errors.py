"""The one error type a user sees: a clear paragraph and exit status 2, never a traceback."""

import difflib
from collections.abc import Iterable


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

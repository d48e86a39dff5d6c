"""pydantic's validation errors as a person reads them: the key path, what was wrong, the closest valid key."""

import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from rapid.platform.errors import did_you_mean


class KeyProblem(ValueError):
    """A problem with one key below where a validator runs (a free-form mapping's key, a plug-in's
    settings): errors point at `path`, under the validator's own location."""

    def __init__(self, path: str | tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path if isinstance(path, tuple) else (path,)


def fields_at(model: Any, loc: tuple[Any, ...]) -> list[str] | None:
    """Valid keys of the mapping at `loc` inside `model`, when it is a model (not a free dict)."""
    current: Any = model
    for part in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        by_key = {f.alias or n: f for n, f in current.model_fields.items()}
        if part not in by_key:
            return None
        annotation = by_key[part].annotation
        options = typing.get_args(annotation) or (annotation,)
        current = next((o for o in options if isinstance(o, type) and issubclass(o, BaseModel)), None)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return None


def unknown_key(key: str, valid: list[str]) -> str:
    """The message for a key that is not one of `valid`: the closest one, then all of them."""
    return f"unknown key{did_you_mean(key, valid)}; expected one of: {', '.join(valid)}"


def _misspelt(loc: tuple[Any, ...], model: Any, given: Any) -> str:
    """For a missing key: the given key that is no valid one and looks like a misspelling of it."""
    if not isinstance(given, dict) or not isinstance(loc[-1], str):
        return ""
    valid = fields_at(model, loc[:-1]) or []
    close = [key for key in given if isinstance(key, str) and key not in valid and did_you_mean(key, [loc[-1]])]
    return f" ('{close[0]}' looks like a misspelling of it)" if close else ""


def describe(error: Any, model: Any) -> str:
    """One pydantic error (an item of `ValidationError.errors()`) of `model` in words."""
    loc = tuple(error["loc"])
    if error["type"] == "extra_forbidden":
        return unknown_key(str(loc[-1]), fields_at(model, loc[:-1]) or [])
    if error["type"] == "missing":
        return f"required key is missing{_misspelt(loc, model, error.get('input'))}"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] in ("value_error", "assertion_error"):
        return message
    return f"{message[0].lower()}{message[1:]} (got {error['input']!r})"


def problems(err: ValidationError, model: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """(key path, message) of every error, a KeyProblem's own path included."""
    found = []
    for error in err.errors():
        problem = error.get("ctx", {}).get("error")
        extra = problem.path if isinstance(problem, KeyProblem) else ()
        found.append((tuple(error["loc"]) + extra, describe(error, model)))
    return found

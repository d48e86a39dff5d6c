"""State that every EnvRunner of a run shares, in one named Ray actor per trial, saved with its checkpoints.

ADR ranges, curriculum statistics and self-play opponent pools all need it. A workload
registers a factory under the env_config key that turns it on (`adr:` for ADR); the trial
starts the actor before its EnvRunners exist, tells them its name through env_config, saves
its state beside each checkpoint and restores it on resume.
"""

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray

STATE_FILE = "central_state.pkl"

# env_config key -> factory(settings, env_config, name) that starts the named actor; the actor
# has get_state(), set_state(state) and metrics() -> {figure: value}.
FACTORIES: dict[str, Callable[[dict[str, Any], dict[str, Any], str], Any]] = {}


def start(env_config: dict[str, Any], trial: str) -> dict[str, Any]:
    """Start the actors the env_config turns on; writes each actor's name into its settings."""
    handles = {}
    for key, factory in FACTORIES.items():
        settings = env_config.get(key)
        if settings is None:
            continue
        name = f"rapid-{key}-{trial}"
        handles[key] = factory(settings, env_config, name)
        settings["actor"] = name
    return handles


def metrics(handles: dict[str, Any]) -> dict[str, float]:
    """Every actor's figures for this iteration's row."""
    found: dict[str, float] = {}
    for values in ray.get([h.metrics.remote() for h in handles.values()]):
        found.update(values)
    return found


def save(handles: dict[str, Any], checkpoint_dir: str) -> None:
    if handles:
        states = dict(zip(handles, ray.get([h.get_state.remote() for h in handles.values()]), strict=True))
        Path(checkpoint_dir, STATE_FILE).write_bytes(pickle.dumps(states))


def restore(handles: dict[str, Any], checkpoint_dir: str) -> None:
    path = Path(checkpoint_dir, STATE_FILE)
    if handles and path.is_file():
        states = pickle.loads(path.read_bytes())
        ray.get([handles[key].set_state.remote(state) for key, state in states.items() if key in handles])

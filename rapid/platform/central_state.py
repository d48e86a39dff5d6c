"""State that many actors of a run share, in one named Ray actor per plug-in and trial, saved with its checkpoints.

Curriculum statistics, randomization ranges and league bookkeeping all need it. A plug-in
(an env wrapper or a spec section) declares `central_actor(settings, job, name)`; the trial
starts the actor before its EnvRunners exist when the job turns the plug-in on, hands it to
the plug-in's wrappers and callbacks, puts its `metrics()` in every row, saves its state
beside each checkpoint and restores it on resume.
"""

import pickle
from pathlib import Path
from typing import Any

import ray

from rapid.platform.env_stack import env_config_of, wrapper_stack
from rapid.platform.spec import RLlibJob

STATE_FILE = "central_state.pkl"


class StateHolder:
    """A central actor whose figures and saved state are those of its plain-Python `state` (an
    object with metrics(), get_state() and set_state(), tested without Ray)."""

    state: Any

    def metrics(self) -> dict[str, float]:
        return self.state.metrics()

    def get_state(self) -> dict[str, Any]:
        return self.state.get_state()

    def set_state(self, state: dict[str, Any]) -> None:
        self.state.set_state(state)


def _with_actors(job: RLlibJob) -> list[tuple[str, Any, Any]]:
    """(key, plug-in, settings) of each plug-in the job turns on that has a central actor."""
    turned_on = list(wrapper_stack(env_config_of(job.env, job.env_config)))
    turned_on += [(name, section, settings) for name, section, settings in job.plugin_sections() if settings is not None]
    return [(key, plugin, settings) for key, plugin, settings in turned_on if plugin.central_actor is not None]


def keys(job: RLlibJob) -> list[str]:
    """The plug-in keys whose actors the job starts: their figures are named `<key>/...`."""
    return [key for key, _, _ in _with_actors(job)]


def start(job: RLlibJob, trial: str) -> dict[str, Any]:
    """Start the central actors of the plug-ins the job turns on; plug-in key -> actor handle."""
    return {key: plugin.central_actor(settings, job, f"rapid-{key}-{trial}") for key, plugin, settings in _with_actors(job)}


def metrics(handles: dict[str, Any]) -> dict[str, float]:
    """Every actor's figures for this iteration's row."""
    found: dict[str, float] = {}
    for values in ray.get([h.metrics.remote() for h in handles.values()]):
        found.update(values)
    return found


def save(handles: dict[str, Any], checkpoint_dir: str) -> None:
    """Every actor's state into the checkpoint folder (one file: STATE_FILE)."""
    if handles:
        states = dict(zip(handles, ray.get([h.get_state.remote() for h in handles.values()]), strict=True))
        Path(checkpoint_dir, STATE_FILE).write_bytes(pickle.dumps(states))


def restore(handles: dict[str, Any], checkpoint_dir: str) -> None:
    """The checkpoint's states back into the running actors (a checkpoint without them leaves the actors as they are)."""
    path = Path(checkpoint_dir, STATE_FILE)
    if handles and path.is_file():
        states = pickle.loads(path.read_bytes())
        ray.get([handles[key].set_state.remote(state) for key, state in states.items() if key in handles])

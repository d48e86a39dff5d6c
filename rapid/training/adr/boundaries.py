"""Automatic domain randomization (ADR, from OpenAI's Rubik's Cube work as DeXtreme reproduced it).

Every randomized parameter's range starts at its nominal value. At each reset an env, with
probability `boundary_probability`, pins one parameter at one end of its current range and
reports how the episode went (consecutive successes). Per boundary the central actor keeps a
queue of those results; when it is full, an average at or above `high` widens that end by
one step, below `low` narrows it back toward nominal. ADR entropy, the summed range widths,
measures how much variation the policy copes with.
"""

from collections import deque
from typing import Any

import gymnasium as gym
import numpy as np
import ray
from pydantic import Field

from rapid.envs.domain_randomization import DomainRandomization, Parameter, resolve_randomization
from rapid.platform.central_state import StateHolder
from rapid.platform.env_stack import env_config_of
from rapid.platform.plugins import EnvWrapper, Strict

SIDES = ("low", "high")


class ADRSettings(Strict):
    """env_config key `adr`: turns ADR on over the env's randomization parameters."""


    boundary_probability: float = Field(0.4, ge=0, le=1, description="share of resets that test a boundary (DeXtreme: 0.4)")
    queue_length: int = Field(256, ge=1, description="episode results per boundary before a decision (DeXtreme: 256)")
    high: float = Field(20.0, description="widen when the queue's mean reaches this (consecutive successes)")
    low: float = Field(5.0, description="narrow when the queue's mean falls below this")
    step_fraction: float = Field(0.05, gt=0, le=1, description="one step, as a share of the parameter's full range")
    performance: str = Field("consecutive_successes", description="the info key whose final value scores an episode")


class ADRState:
    """The ranges and boundary queues; plain Python so that it is tested without Ray."""

    def __init__(self, parameters: list[Parameter], settings: ADRSettings) -> None:
        # ADR moves uniform and log-uniform ranges; a normal draw keeps its fixed spread.
        self.parameters = {p.name: p for p in parameters if p.distribution != "normal"}
        self.settings = settings
        self.ranges = {name: [p.nominal, p.nominal] for name, p in self.parameters.items()}
        self.queues = {(name, side): deque(maxlen=settings.queue_length) for name in self.parameters for side in SIDES}

    def step(self, name: str) -> float:
        low, high = self.parameters[name].range
        return self.settings.step_fraction * (high - low)

    def boundary(self, rng: np.random.Generator) -> tuple[str, str, float] | None:
        """A boundary to test this episode, or None (then every parameter is drawn)."""
        if not self.parameters or rng.random() >= self.settings.boundary_probability:
            return None
        name = list(self.parameters)[rng.integers(len(self.parameters))]
        side = SIDES[rng.integers(2)]
        return name, side, self.ranges[name][SIDES.index(side)]

    def report(self, name: str, side: str, performance: float) -> None:
        """Queue one episode's result; a full queue moves its boundary and starts afresh."""
        queue = self.queues[(name, side)]
        queue.append(performance)
        if len(queue) < queue.maxlen:
            return
        mean = float(np.mean(queue))
        queue.clear()
        limit_low, limit_high = self.parameters[name].range
        nominal, step, current = self.parameters[name].nominal, self.step(name), self.ranges[name]
        if mean >= self.settings.high:  # copes at this end: widen it, up to the limit
            if side == "low":
                current[0] = max(current[0] - step, limit_low)
            else:
                current[1] = min(current[1] + step, limit_high)
        elif mean < self.settings.low:  # struggles: narrow it back, never past nominal
            if side == "low":
                current[0] = min(current[0] + step, nominal)
            else:
                current[1] = max(current[1] - step, nominal)

    def entropy(self) -> float:
        return float(sum(high - low for low, high in self.ranges.values()))

    def metrics(self) -> dict[str, float]:
        figures = {"adr/entropy": self.entropy()}
        for name, (low, high) in self.ranges.items():
            figures[f"adr/range/{name}/low"] = low
            figures[f"adr/range/{name}/high"] = high
        return figures

    def get_state(self) -> dict[str, Any]:
        return {"ranges": {k: list(v) for k, v in self.ranges.items()}, "queues": {k: list(q) for k, q in self.queues.items()}}

    def set_state(self, state: dict[str, Any]) -> None:
        self.ranges = {k: list(v) for k, v in state["ranges"].items()}
        for key, values in state["queues"].items():
            self.queues[key].clear()
            self.queues[key].extend(values)


class ADRServer(StateHolder):
    """The run's central ADR actor: every env of every EnvRunner reads ranges from it and reports to it."""

    def __init__(self, parameters: list[dict[str, Any]], settings: dict[str, Any]) -> None:
        self.state = ADRState([Parameter.model_validate(p) for p in parameters], ADRSettings.model_validate(settings))

    def ranges(self) -> dict[str, list[float]]:
        return self.state.ranges

    def report(self, name: str, side: str, performance: float) -> None:
        self.state.report(name, side, performance)


class ADRClient(gym.Wrapper):
    """Around a DomainRandomization wrapper: takes ranges from the central actor, tests boundaries.

    Without a central actor (preflight, `rapid eval`) the ranges stay at nominal and nothing is reported.
    """

    def __init__(self, env: gym.Env, settings: ADRSettings, server: Any = None) -> None:
        if not isinstance(env, DomainRandomization):
            raise ValueError("adr: needs a `randomization:` whose ranges it can move")
        super().__init__(env)
        self.settings = settings
        self.dr = env
        self.server = server
        self.adr = ADRState(env.spec_.parameters, settings)  # for boundary choice; ranges come from the server
        self.testing: tuple[str, str] | None = None
        self._rng = np.random.default_rng()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        if seed is not None:
            self._rng = np.random.default_rng(seed + 1)
        if self.server is not None:
            self.adr.ranges = ray.get(self.server.ranges.remote())
        self.dr.ranges.update({name: tuple(r) for name, r in self.adr.ranges.items()})
        boundary = self.adr.boundary(self._rng)
        self.testing = boundary[:2] if boundary else None
        if boundary:
            self.dr.pin(boundary[0], boundary[2])
        return self.env.reset(seed=seed, options=options)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        if (terminated or truncated) and self.testing is not None:
            if self.server is not None:
                self.server.report.remote(*self.testing, float(info.get(self.settings.performance, 0.0)))
            self.testing = None
        return obs, reward, terminated, truncated, info


def start_server(settings: ADRSettings, job: Any, name: str) -> Any:
    """The run's ADR actor over the env's randomization parameters (no CPU: it only bookkeeps)."""
    parameters = resolve_randomization(env_config_of(job.env, job.env_config).get("randomization")).parameters
    server = ray.remote(ADRServer).options(name=name, get_if_exists=True, num_cpus=0)
    return server.remote([p.model_dump() for p in parameters], settings.model_dump())


ADR_WRAPPER = EnvWrapper(wrap=ADRClient, schema=ADRSettings, order=20, central_actor=start_server)

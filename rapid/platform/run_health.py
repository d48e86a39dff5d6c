"""A run that goes on is not always a run that works: env runners that crash at every reset are
restarted forever and sample nothing, a NaN loss spreads into the weights and crashes runners
again. RLlib carries on through both; the trial checks its health after every iteration and ends
itself `error` or `stalled`, with the reason, by the rules of the spec's `health:` settings.
"""

import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any, NamedTuple

from rapid.platform.spec_parts import Health

STALLED, ERROR = "stalled", "error"
# Result keys of a trial that ended itself: its status and why.
HEALTH, HEALTH_REASON = "health", "health_reason"


class Verdict(NamedTuple):
    """Why a run must end: its status and a sentence a researcher can act on."""

    status: str
    reason: str


def nonfinite_losses(result: dict[str, Any]) -> list[str]:
    """learners/<module>/<...loss...> figures that are NaN or infinite."""
    found = []
    for module, figures in (result.get("learners") or {}).items():
        for key, value in (figures if isinstance(figures, dict) else {}).items():
            if "loss" in key and isinstance(value, int | float) and not math.isfinite(value):
                found.append(f"learners/{module}/{key} = {value}")
    return found


def nonfinite_weights(learner: Any) -> list[str]:
    """Modules of a Learner with a NaN or infinite weight (run on each Learner, local or remote);
    a module without weights (a fixed partner) has none to check."""
    return [
        str(module_id)
        for module_id, module in learner.module.items()
        if any(not param.isfinite().all() for param in getattr(module, "parameters", tuple)())
    ]


class RunHealth:
    """Judges each iteration's result; `clock` is injectable so the rules are tested without waiting."""

    def __init__(self, settings: Health, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings, self.clock = settings, clock
        self._steps = -1.0
        self._progress_at = clock()
        self._restarts_seen = 0
        self._restarts: deque[float] = deque()

    def judge(self, env_steps: float, restarts: int, losses: list[str], weights: list[str]) -> Verdict | None:
        """The verdict on the run so far: `env_steps` sampled in total, `restarts` of EnvRunners in total,
        non-finite `losses` and `weights`; None while it is healthy. Losses count only in an iteration
        that sampled: one that sampled nothing (a sample timeout on a loaded machine) trained on
        nothing, and its learner figures are NaN means of no batches, not a loss that diverged."""
        now, rules = self.clock(), self.settings
        nonfinite = (losses if env_steps > self._steps else []) + weights
        if nonfinite:
            return Verdict(ERROR, f"non-finite training values: {', '.join(nonfinite[:3])} (health.finite_check)")
        for _ in range(restarts - self._restarts_seen):
            self._restarts.append(now)
        self._restarts_seen = max(self._restarts_seen, restarts)
        while self._restarts and now - self._restarts[0] > rules.restart_window_s:
            self._restarts.popleft()
        if len(self._restarts) > rules.max_runner_restarts:
            times = f"{len(self._restarts)} time{'s' if len(self._restarts) > 1 else ''}"
            return Verdict(
                ERROR,
                f"EnvRunners were restarted {times} within {rules.restart_window_s:g} s "
                f"(health.max_runner_restarts: {rules.max_runner_restarts}): the env or the policy crashes them; "
                "their errors are in the run's log",
            )
        if env_steps > self._steps:
            self._steps, self._progress_at = env_steps, now
        elif now - self._progress_at > rules.stall_after_s:
            return Verdict(
                STALLED,
                f"no env step sampled for {now - self._progress_at:.0f} s (health.stall_after_s: {rules.stall_after_s:g})",
            )
        return None

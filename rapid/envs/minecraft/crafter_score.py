"""Crafter's score (Hafner 2021): the geometric mean of the achievements' success rates, in percent,
S = exp(mean_i ln(1 + s_i)) - 1 with s_i the percentage of episodes that unlocked achievement i.

The `crafter_score` callback computes it from the per-achievement flags that the Simon Says
env's score protocol (`score_protocol: true`, used by evaluation) logs at each episode's end,
windowed over the last 100 episodes, and adds it to the row as
`evaluation/env_runners/crafter_score` (or `env_runners/crafter_score` when training episodes
follow the protocol).
"""

from collections.abc import Iterable
from typing import Any

import numpy as np
from ray.rllib.callbacks.callbacks import RLlibCallback

from rapid.envs.minecraft import CRAFTER_ITEMS
from rapid.envs.minecraft.simon_says import achievement_key

SCORE = "crafter_score"


def crafter_score(success_rates: Iterable[float]) -> float:
    """The score, in percent, of success rates in [0, 1] (one per achievement)."""
    percent = 100.0 * np.asarray(list(success_rates), dtype=float)
    return float(np.exp(np.mean(np.log1p(percent))) - 1.0)


class CrafterScore(RLlibCallback):
    """Adds `crafter_score` beside the achievement flags wherever every achievement was measured."""

    def on_train_result(self, *, result: dict[str, Any], **kwargs: Any) -> None:
        for runners in (result.get("env_runners"), result.get("evaluation", {}).get("env_runners")):
            if isinstance(runners, dict) and all(achievement_key(item) in runners for item in CRAFTER_ITEMS):
                runners[SCORE] = crafter_score(runners[achievement_key(item)] for item in CRAFTER_ITEMS)

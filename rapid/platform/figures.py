"""One flat row of figures per training iteration, shared by metrics.parquet, plots, progress and dashboard.

RLlib's result is a deep dict; researchers want named columns. The headline figures get
short names; everything else numeric under env_runners/, learners/ and evaluation/ keeps
its RLlib path (`learners/default_policy/policy_loss`), so every workload metric that a
callback logs lands in the row without rapid knowing its name.
"""

import math
from numbers import Real
from typing import Any

# Short name -> path in RLlib's result dict.
HEADLINE = {
    "env_steps": ("num_env_steps_sampled_lifetime",),
    "episode_return_mean": ("env_runners", "episode_return_mean"),
    "episode_return_min": ("env_runners", "episode_return_min"),
    "episode_return_max": ("env_runners", "episode_return_max"),
    "episode_len_mean": ("env_runners", "episode_len_mean"),
    "eval_return_mean": ("evaluation", "env_runners", "episode_return_mean"),
}
FLATTENED = ("env_runners", "learners", "evaluation")
# The short names an RLlib trial reports (and a stop criterion may name).
HEADLINE_FIGURES = (*HEADLINE, "env_steps_per_s")
# Where a multi-agent row keeps each policy's return (its agents' summed) and each agent's.
POLICY_RETURNS = "env_runners/module_episode_returns_mean"
AGENT_RETURNS = "env_runners/agent_episode_returns_mean"
# Tune's own keys a row keeps under rapid's names.
TUNE_KEYS = {"training_iteration": "iteration", "time_total_s": "wall_time_s", "time_this_iter_s": "iteration_s"}


def is_number(value: Any) -> bool:
    """A measured figure: a real number, not NaN (a gap: not measured in that row) and not a bool."""
    return isinstance(value, Real) and not isinstance(value, bool) and not math.isnan(value)


def _lookup(result: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = result
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _flatten(node: Any, prefix: str, out: dict[str, float]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key != "timers":  # per-connector timings: dozens of columns nobody plots
                _flatten(value, f"{prefix}/{key}", out)
    elif isinstance(node, Real) and not isinstance(node, bool):
        out[prefix] = float(node)


def rllib_figures(result: dict[str, Any]) -> dict[str, float]:
    """The row for one `Algorithm.train()` result."""
    row: dict[str, float] = {}
    for name, path in HEADLINE.items():
        value = _lookup(result, path)
        row[name] = float(value) if isinstance(value, Real) else math.nan
    sampled = _lookup(result, ("env_runners", "num_env_steps_sampled"))
    elapsed = result.get("time_this_iter_s")
    row["env_steps_per_s"] = float(sampled) / elapsed if isinstance(sampled, Real) and elapsed else math.nan
    for section in FLATTENED:
        if section in result:
            _flatten(result[section], section, row)
    return row


def row_from_tune_result(result: dict[str, Any]) -> dict[str, Any]:
    """What a Tune result contributes to metrics.parquet: figures plus Tune's counters, renamed."""
    row = {TUNE_KEYS.get(k, k): v for k, v in result.items() if isinstance(v, Real) or k == "trial_id"}
    row["trial_id"] = result.get("trial_id", "")
    # iterations_since_restore stays: it shows where a resumed run picked up.
    for key in ("timestamp", "pid", "time_since_restore", "done"):
        row.pop(key, None)
    return row

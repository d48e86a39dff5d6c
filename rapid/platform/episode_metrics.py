"""Workload metrics read from an episode's last info dict, logged as env_runners/<name>.

An env or a wrapper registers what it reports (the hand: consecutive_successes, dropped; goal
envs: success_rate from info["is_success"]; the physics guard: sim_unstable) and how to reduce
it over an iteration; RLlib's MetricsLogger does the rest.
"""

from typing import Any, Literal, NamedTuple

from ray.rllib.env.multi_agent_episode import MultiAgentEpisode

# Episodes averaged over, as RLlib does for episode_return_mean.
WINDOW = 100


class EpisodeMetric(NamedTuple):
    """Logged as env_runners/<name>: info[info_key] of the episode's last step, reduced. A 0/1 flag
    with a `warn_share` makes the run's summary warn, with its `meaning`, when more than that share
    of all episodes raised it."""

    info_key: str
    reduce: Literal["mean", "sum"] = "mean"
    warn_share: float | None = None
    meaning: str = ""


def log_final_info(metrics: dict[str, EpisodeMetric], *, episode: Any, metrics_logger: Any, **_: Any) -> None:
    """`on_episode_end` callback: "mean" is windowed over episodes, "sum" counts per iteration.
    A multi-agent episode's value is its agents' mean ("mean") or largest ("sum": counted once)."""
    last = episode.get_infos(-1)
    infos = list(last.values()) if isinstance(episode, MultiAgentEpisode) else [last]
    for name, (key, reduce, *_) in metrics.items():
        values = [float(info[key]) for info in infos if key in info]
        if not values:
            continue
        if reduce == "sum":
            metrics_logger.log_value(name, max(values), reduce="sum")
        else:
            metrics_logger.log_value(name, sum(values) / len(values), reduce="mean", window=WINDOW)

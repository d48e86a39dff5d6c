"""Workload metrics read from an episode's last info dict, logged as env_runners/<key>.

An env registers the keys it reports (the hand: consecutive_successes, dropped, sim_unstable)
and how to reduce them over an iteration; RLlib's MetricsLogger does the rest.
"""

from typing import Any

# Episodes averaged over, as RLlib does for episode_return_mean.
WINDOW = 100


def log_final_info(keys: dict[str, str], *, episode: Any, metrics_logger: Any, **_: Any) -> None:
    """`on_episode_end` callback: `keys` maps info key -> "mean" (windowed) or "sum" (per iteration)."""
    info = episode.get_infos(-1)
    for key, reduce in keys.items():
        if key in info:
            if reduce == "sum":
                metrics_logger.log_value(key, float(info[key]), reduce="sum")
            else:
                metrics_logger.log_value(key, float(info[key]), reduce="mean", window=WINDOW)

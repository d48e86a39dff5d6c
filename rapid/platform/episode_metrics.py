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


def log_final_info(metrics: dict[str, EpisodeMetric], *, episode: Any, metrics_logger: Any, env_runner: Any = None,
                   **_: Any) -> None:
    """`on_episode_end` callback: "mean" is windowed over episodes, "sum" counts per iteration.
    A multi-agent episode's value is its agents' mean ("mean") or largest ("sum": counted once)."""
    if isinstance(episode, MultiAgentEpisode) and env_runner is not None:
        log_against_fixed(metrics, episode, metrics_logger, set(env_runner.config.policies_to_train or ()))
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


def log_against_fixed(metrics: dict[str, EpisodeMetric], episode: MultiAgentEpisode, metrics_logger: Any,
                      trained: set[str]) -> None:
    """Against each policy of the episode that does not learn (a fixed partner, a league snapshot):
    each learning agent's return and "mean" metrics, logged as against/<policy>/return and
    against/<policy>/<metric> (windowed means over such episodes), so that one evaluation
    reports how the learned policy fares against each partner it met."""
    modules = {agent: episode.module_for(agent) for agent in episode.agent_ids}
    fixed = sorted({module for module in modules.values() if module not in trained})
    if not fixed:
        return
    last = episode.get_infos(-1)
    for agent, module in modules.items():
        if module not in trained:
            continue
        figures = {"return": episode.agent_episodes[agent].get_return()}
        figures.update((name, float(last[agent][key])) for name, (key, reduce, *_) in metrics.items()
                       if reduce == "mean" and key in last.get(agent, {}))
        for opponent in fixed:
            for name, value in figures.items():
                metrics_logger.log_value(f"against/{opponent}/{name}", value, reduce="mean", window=WINDOW)

"""The league's parts: snapshot modules and the per-episode opponent draw (configure), the callback
that fills and overwrites the slots and counts matches, and the central actor that keeps score."""

import random
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np
import ray
from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.callbacks.callbacks import RLlibCallback

from rapid.platform.multi_agent import set_modules
from rapid.training.league import League, league_policies, snapshot_name

# Where each EnvRunner logs its episodes' matchups (reduced per iteration: sums).
MATCHES = "league"


class LeagueMapping:
    """The job's mapping, with the opponent seat of each episode sometimes a snapshot.

    Every draw is seeded by the episode's id: each agent of an episode, and RLlib's repeated
    calls for the same agent, get the same answer, and the function keeps no state.
    """

    def __init__(self, base: Any, policies: list[str], slots: int, latest_probability: float) -> None:
        self.base, self.policies, self.slots, self.latest_probability = base, policies, slots, latest_probability

    def __call__(self, agent_id: Any, episode: Any = None, **kwargs: Any) -> str:
        policy = self.base(agent_id, episode, **kwargs)
        if episode is None or policy not in self.policies:
            return policy
        draw = random.Random(f"league-{episode.id_}")
        opponent_seat = draw.choice(self.policies)
        if policy != opponent_seat or draw.random() < self.latest_probability:
            return policy
        return snapshot_name(policy, draw.randrange(self.slots))


def configure_league(config: AlgorithmConfig, job: Any, league: League | None) -> None:
    """Add the snapshot slots (copies of their policy's spec) and the opponent draw."""
    if league is None:
        return
    policies = league_policies(league, job)
    specs = dict(config.rl_module_spec.rl_module_specs)
    for policy in policies:
        for slot in range(league.slots):
            specs[snapshot_name(policy, slot)] = replace(specs[policy])
    mapping = LeagueMapping(config.policy_mapping_fn, policies, league.slots, league.latest_probability)
    set_modules(config, specs, mapping, job.multi_agent.trained)


def copy_weights(algorithm: Algorithm, source: str, targets: list[str]) -> None:
    """Overwrite `targets` with `source`'s learner weights on the learner and every EnvRunner at once.

    `algorithm.set_state` or a `sync_weights` would reach the EnvRunners only after the next
    iteration had sampled with the old weights: their weights' sequence number has not moved.
    """
    state = algorithm.learner_group.get_weights(module_ids=[source])[source]
    algorithm.learner_group.set_weights({target: state for target in targets})
    for group in (algorithm.env_runner_group, algorithm.eval_env_runner_group):
        if group is not None:
            group.foreach_env_runner(lambda runner, _s=state, _t=tuple(targets): [runner.module[t].set_state(_s) for t in _t])


def push_snapshots(algorithm: Algorithm, names: list[str]) -> None:
    """The learner's snapshot weights onto every EnvRunner (after a restore)."""
    states = algorithm.learner_group.get_weights(module_ids=names)
    for group in (algorithm.env_runner_group, algorithm.eval_env_runner_group):
        if group is not None:
            group.foreach_env_runner(lambda runner, _s=states: [runner.module[n].set_state(s) for n, s in _s.items()])


class LeagueCallback(RLlibCallback):
    """Fills the slots at the start, overwrites one per league policy every `every` iterations,
    and counts each episode's matchup where it ends (on the EnvRunner, from the modules it played)."""

    def __init__(self, league: League, policies: list[str], state: Any = None) -> None:
        super().__init__()
        self.league, self.policies, self.state = league, policies, state
        self.snapshots = {snapshot_name(p, k): p for p in policies for k in range(league.slots)}

    def on_algorithm_init(self, *, algorithm: Algorithm, **kwargs: Any) -> None:
        for policy in self.policies:
            copy_weights(algorithm, policy, [snapshot_name(policy, k) for k in range(self.league.slots)])

    def on_checkpoint_loaded(self, *, algorithm: Algorithm, **kwargs: Any) -> None:
        push_snapshots(algorithm, list(self.snapshots))

    def on_episode_end(self, *, episode: Any, metrics_logger: Any = None, **kwargs: Any) -> None:
        played = {aid: episode.module_for(aid) for aid in episode.agent_episodes}
        returns: dict[str, list[float]] = {}
        for aid, module in played.items():
            returns.setdefault(module, []).append(episode.agent_episodes[aid].get_return())
        past = [m for m in returns if m in self.snapshots]
        metrics_logger.log_value((MATCHES, "episodes"), 1, reduce="sum")
        metrics_logger.log_value((MATCHES, "past_opponent"), int(bool(past)), reduce="sum")
        for snapshot in past:
            metrics_logger.log_value((MATCHES, "games", snapshot), 1, reduce="sum")
            for latest in (m for m in returns if m in self.policies):
                # A win: the newest side's agents earned more per agent than the snapshot's.
                gap = float(np.mean(returns[latest]) - np.mean(returns[snapshot]))
                win = 1.0 if gap > 0 else 0.5 if gap == 0 else 0.0
                metrics_logger.log_value((MATCHES, "wins", f"{latest}_vs_{snapshot}"), win, reduce="sum")

    def on_train_result(self, *, algorithm: Algorithm, result: dict[str, Any], **kwargs: Any) -> None:
        if self.state is None:
            return
        counts = result.get("env_runners", {}).get(MATCHES, {})
        ray.get(self.state.record.remote(counts.get("games", {}), counts.get("wins", {})))
        if algorithm.iteration % self.league.every == 0:
            for policy in self.policies:
                slot = ray.get(self.state.overwrite.remote(policy, algorithm.iteration))
                copy_weights(algorithm, policy, [snapshot_name(policy, slot)])


class LeagueState:
    """The league's bookkeeping, one actor per trial: next slot per policy, each slot's snapshot
    iteration, and games and wins against each slot since it was last overwritten."""

    def __init__(self, league: dict[str, Any], policies: list[str]) -> None:
        self.slots = league["slots"]
        self.next_slot = {p: 0 for p in policies}
        self.snapshot_iteration = {snapshot_name(p, k): 0 for p in policies for k in range(self.slots)}
        self.games: dict[str, float] = {}
        self.wins: dict[str, float] = {}

    def record(self, games: dict[str, float], wins: dict[str, float]) -> None:
        for name, count in games.items():
            self.games[name] = self.games.get(name, 0.0) + count
        for matchup, count in wins.items():
            self.wins[matchup] = self.wins.get(matchup, 0.0) + count

    def overwrite(self, policy: str, iteration: int) -> int:
        """The slot that takes `policy`'s weights now; its record starts afresh."""
        slot = self.next_slot[policy]
        self.next_slot[policy] = (slot + 1) % self.slots
        name = snapshot_name(policy, slot)
        self.snapshot_iteration[name] = iteration
        self.games.pop(name, None)
        self.wins = {m: w for m, w in self.wins.items() if not m.endswith(f"_vs_{name}")}
        return slot

    def metrics(self) -> dict[str, float]:
        figures = {f"league/snapshot_iteration/{name}": float(it) for name, it in self.snapshot_iteration.items()}
        figures.update({f"league/games/{name}": count for name, count in self.games.items()})
        for matchup, wins in self.wins.items():
            games = self.games.get(matchup.split("_vs_", 1)[1], 0.0)
            if games:
                figures[f"league/win_rate/{matchup}"] = wins / games
        return figures

    def get_state(self) -> dict[str, Any]:
        return {
            "next_slot": self.next_slot, "snapshot_iteration": self.snapshot_iteration, "games": self.games, "wins": self.wins
        }

    def set_state(self, state: dict[str, Any]) -> None:
        self.next_slot = dict(state["next_slot"])
        self.snapshot_iteration = dict(state["snapshot_iteration"])
        self.games, self.wins = dict(state["games"]), dict(state["wins"])


def start_league_state(league: League, job: Any, name: str) -> Any:
    """The trial's league actor (no CPU: it only keeps score)."""
    actor = ray.remote(LeagueState).options(name=name, get_if_exists=True, num_cpus=0)
    return actor.remote(league.model_dump(), league_policies(league, job))


def league_callbacks(league: League, job: Any, state: Any) -> list[Any]:
    return [partial(LeagueCallback, league=league, policies=league_policies(league, job), state=state)]

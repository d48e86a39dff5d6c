"""The league's parts: snapshot modules and the per-episode opponent draw (configure), the callback
that fills and overwrites the slots and counts matches, and the central actor that keeps score."""

import fnmatch
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

# Where each EnvRunner logs its episodes' matchups (summed per iteration): env_runners/league/...
LEAGUE_LOG = "league"


class LeagueMapping:
    """The job's mapping, with the opponent seat of each episode sometimes playing a snapshot.

    Every draw is seeded by the episode's id: each agent of an episode, and RLlib's repeated
    calls for the same agent, get the same answer, and the function keeps no state.
    """

    def __init__(self, base: Any, policies: list[str], league: League) -> None:
        self.base, self.policies, self.league = base, policies, league
        self.seats = league.seats or policies

    def seat_of(self, agent_id: Any, policy: str) -> str | None:
        if self.league.seats is None:
            return policy
        return next((seat for seat in self.league.seats if fnmatch.fnmatchcase(str(agent_id), seat)), None)

    def __call__(self, agent_id: Any, episode: Any = None, **kwargs: Any) -> str:
        policy = self.base(agent_id, episode, **kwargs)
        if episode is None or policy not in self.policies:
            return policy
        draw = random.Random(f"league-{episode.id_}")
        opponent_seat = draw.choice(self.seats)
        if self.seat_of(agent_id, policy) != opponent_seat or draw.random() < self.league.latest_probability:
            return policy
        return snapshot_name(policy, draw.randrange(self.league.slots))


def configure_league(config: AlgorithmConfig, job: Any, league: League | None) -> None:
    """Add the snapshot slots (copies of their policy's spec) and the opponent draw."""
    if league is None:
        return
    policies = league_policies(league, job)
    specs = dict(config.rl_module_spec.rl_module_specs)
    for policy in policies:
        for slot in range(league.slots):
            specs[snapshot_name(policy, slot)] = replace(specs[policy])
    set_modules(config, specs, LeagueMapping(config.policy_mapping_fn, policies, league), job.multi_agent.trained)


def copy_weights(algorithm: Algorithm, source: str, targets: list[str]) -> None:
    """Overwrite `targets` with `source`'s learner weights on the learner and every EnvRunner at once."""
    state = algorithm.learner_group.get_weights(module_ids=[source])[source]
    algorithm.learner_group.set_weights({target: state for target in targets})
    to_env_runners(algorithm, {target: state for target in targets})


def to_env_runners(algorithm: Algorithm, states: dict[str, Any]) -> None:
    """Module id -> weights, set on every EnvRunner (training and evaluation, local and remote) now.

    `algorithm.set_state` or a `sync_weights` would reach them only after the next iteration
    had sampled with the old weights: their weights' sequence number has not moved.
    """
    for group in (algorithm.env_runner_group, algorithm.eval_env_runner_group):
        if group is not None:
            group.foreach_env_runner(lambda runner, _s=states: [runner.module[m].set_state(w) for m, w in _s.items()])


class LeagueCallback(RLlibCallback):
    """Fills the slots at the start, overwrites one per league policy every `every` iterations,
    and counts each episode's matchups where it ends (on the EnvRunner, from the modules it played).

    Callbacks run in list order: the job's starting weights (`init_checkpoint`) load before
    this one fills the slots. Without a central actor (a script building the algorithm) the
    round robin is kept here and nothing is scored.
    """

    def __init__(self, league: League, policies: list[str], state: Any = None) -> None:
        super().__init__()
        self.league, self.policies, self.state = league, policies, state
        self.snapshots = {snapshot_name(p, k) for p in policies for k in range(league.slots)}
        self.next_slot = dict.fromkeys(policies, 0)

    def on_algorithm_init(self, *, algorithm: Algorithm, **kwargs: Any) -> None:
        for policy in self.policies:
            copy_weights(algorithm, policy, [snapshot_name(policy, k) for k in range(self.league.slots)])

    def on_checkpoint_loaded(self, *, algorithm: Algorithm, **kwargs: Any) -> None:
        """A restored learner's snapshots onto the EnvRunners, which a restore leaves as they were."""
        to_env_runners(algorithm, algorithm.learner_group.get_weights(module_ids=sorted(self.snapshots)))

    def on_episode_end(self, *, episode: Any, metrics_logger: Any = None, **kwargs: Any) -> None:
        returns: dict[str, list[float]] = {}
        for agent_id, agent_episode in episode.agent_episodes.items():
            returns.setdefault(episode.module_for(agent_id), []).append(agent_episode.get_return())
        past = [m for m in returns if m in self.snapshots]
        metrics_logger.log_value((LEAGUE_LOG, "episodes"), 1, reduce="sum")
        metrics_logger.log_value((LEAGUE_LOG, "past_opponent"), int(bool(past)), reduce="sum")
        for snapshot in past:
            metrics_logger.log_value((LEAGUE_LOG, "games", snapshot), 1, reduce="sum")
            for latest in (m for m in returns if m not in self.snapshots):
                # A win: the newest side's agents earned more per agent than the snapshot's.
                gap = float(np.mean(returns[latest]) - np.mean(returns[snapshot]))
                win = 1.0 if gap > 0 else 0.5 if gap == 0 else 0.0
                metrics_logger.log_value((LEAGUE_LOG, "wins", latest, snapshot), win, reduce="sum")

    def on_train_result(self, *, algorithm: Algorithm, result: dict[str, Any], **kwargs: Any) -> None:
        counts = result.get("env_runners", {}).get(LEAGUE_LOG, {})
        if self.state is not None:
            ray.get(self.state.record.remote(counts.get("games", {}), counts.get("wins", {})))
        if algorithm.iteration % self.league.every == 0:
            for policy in self.policies:
                copy_weights(algorithm, policy, [snapshot_name(policy, self._overwrite(policy, algorithm.iteration))])

    def _overwrite(self, policy: str, iteration: int) -> int:
        """The slot that takes `policy`'s weights now: the central actor's round robin (saved with
        checkpoints), or this callback's own without one."""
        if self.state is not None:
            return ray.get(self.state.overwrite.remote(policy, iteration))
        slot = self.next_slot[policy]
        self.next_slot[policy] = (slot + 1) % self.league.slots
        return slot


class LeagueState:
    """The league's bookkeeping, one actor per trial: next slot per policy, each slot's snapshot
    iteration, and games and wins against each slot since it was last overwritten."""

    def __init__(self, league: dict[str, Any], policies: list[str]) -> None:
        self.slots = league["slots"]
        self.next_slot = dict.fromkeys(policies, 0)
        self.snapshot_iteration = {snapshot_name(p, k): 0 for p in policies for k in range(self.slots)}
        self.games: dict[str, float] = {}
        self.wins: dict[str, dict[str, float]] = {}  # newest module -> snapshot -> wins

    def record(self, games: dict[str, float], wins: dict[str, dict[str, float]]) -> None:
        """Add one iteration's counts, as the EnvRunners logged them."""
        for snapshot, count in games.items():
            self.games[snapshot] = self.games.get(snapshot, 0.0) + count
        for latest, against in wins.items():
            for snapshot, count in against.items():
                self.wins.setdefault(latest, {})[snapshot] = self.wins.get(latest, {}).get(snapshot, 0.0) + count

    def overwrite(self, policy: str, iteration: int) -> int:
        """The slot that takes `policy`'s weights now; its record starts afresh."""
        slot = self.next_slot[policy]
        self.next_slot[policy] = (slot + 1) % self.slots
        name = snapshot_name(policy, slot)
        self.snapshot_iteration[name] = iteration
        self.games.pop(name, None)
        for against in self.wins.values():
            against.pop(name, None)
        return slot

    def metrics(self) -> dict[str, float]:
        """league/snapshot_iteration/<snapshot>, league/games/<snapshot>, league/win_rate/<newest>/<snapshot>."""
        figures = {f"league/snapshot_iteration/{name}": float(it) for name, it in self.snapshot_iteration.items()}
        figures.update({f"league/games/{name}": count for name, count in self.games.items()})
        for latest, against in self.wins.items():
            for snapshot, wins in against.items():
                if self.games.get(snapshot):
                    figures[f"league/win_rate/{latest}/{snapshot}"] = wins / self.games[snapshot]
        return figures

    def get_state(self) -> dict[str, Any]:
        """What a checkpoint keeps (the snapshots' weights are in its modules)."""
        return {
            "next_slot": self.next_slot, "snapshot_iteration": self.snapshot_iteration, "games": self.games, "wins": self.wins
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint's state."""
        self.next_slot = dict(state["next_slot"])
        self.snapshot_iteration = dict(state["snapshot_iteration"])
        self.games = dict(state["games"])
        self.wins = {latest: dict(against) for latest, against in state["wins"].items()}


def start_league_state(league: League, job: Any, name: str) -> Any:
    """The trial's league actor (no CPU: it only keeps score)."""
    actor = ray.remote(LeagueState).options(name=name, get_if_exists=True, num_cpus=0)
    return actor.remote(league.model_dump(), league_policies(league, job))


def league_callbacks(league: League, job: Any, state: Any) -> list[Any]:
    """The league's callback, given its central actor."""
    return [partial(LeagueCallback, league=league, policies=league_policies(league, job), state=state)]

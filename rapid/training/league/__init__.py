"""A self-play league: `multi_agent.league`, frozen snapshots of trained policies as opponents.

Each league policy gets `slots` frozen copies (`<policy>_snapshot_<k>`), declared with the job
and filled with its starting weights; every `every` iterations the next slot, round robin,
takes the policy's current weights, on the learner and on every EnvRunner at once. Each
episode one seat is the opponent seat: with probability `latest_probability` its agents play
their newest policy, else one snapshot of it drawn uniformly. A seat is the agents of one
league policy (predators against prey), or, with `seats:`, the agents an id glob matches (two
seats of one shared policy: symmetric self-play). Matchups and wins are counted in
`on_episode_end`; the counts, win rates and slot ages live in a central actor, saved with
every checkpoint (the snapshots' weights are in the checkpoint's modules). selfplay.py has it all.
"""

from typing import Any

from pydantic import Field

from rapid.platform.errors import did_you_mean
from rapid.platform.plugins import Section, Strict
from rapid.platform.registry import SECTIONS, import_attr

MAX_SLOTS = 64


class League(Strict):
    """Which policies are snapshotted, how many snapshots each keeps, how often, how often they play."""


    policies: list[str] | None = Field(None, description="trained policies that get snapshot slots (null: every trained one)")
    # Each slot is a full RLModule on the learner and every EnvRunner: a bound keeps a typo from
    # building millions of them.
    slots: int = Field(4, ge=1, le=MAX_SLOTS, description="frozen snapshots kept per league policy, overwritten round robin")
    every: int = Field(10, ge=1, description="training iterations between snapshots")
    latest_probability: float = Field(
        0.8, ge=0.0, le=1.0, description="share of episodes whose opponent seat plays the newest policy, not a snapshot"
    )
    seats: list[str] | None = Field(
        None, description="agent id globs, one per seat (null: a seat per league policy); one shared policy needs two"
    )


def snapshot_name(policy: str, slot: int) -> str:
    """The module id of a policy's snapshot slot."""
    return f"{policy}_snapshot_{slot}"


def league_policies(league: League, job: Any) -> list[str]:
    """The policies that get snapshot slots."""
    return league.policies if league.policies is not None else job.multi_agent.trained


def _check(league: League, job: Any) -> None:
    """League policies are trained ones, their slots' names are free, and seats are at least two."""
    if league.seats is not None and len(league.seats) < 2:
        raise ValueError(f"seats: give two or more agent id globs (one per seat), got {league.seats}")
    trained = job.multi_agent.trained
    for name in league_policies(league, job):
        if name not in trained:
            hint = did_you_mean(name, trained)
            raise ValueError(f"policies: '{name}' is not a trained policy{hint}; trained: {', '.join(trained)}")
        taken = [snapshot_name(name, k) for k in range(league.slots) if snapshot_name(name, k) in job.multi_agent.policies]
        if taken:
            raise ValueError(f"policy '{taken[0]}' has the name of one of the league's snapshot slots; rename it")


def _from_selfplay(name: str) -> Any:
    """selfplay.py's `name`, imported when first called (it imports RLlib)."""
    return lambda *args: import_attr("rapid.training.league.selfplay", name)(*args)


SECTIONS.add(
    "league",
    lambda: Section(
        schema=League,
        description="self-play against frozen snapshots of the trained policies",
        parent="multi_agent",
        check=_check,
        configure=_from_selfplay("configure_league"),
        callbacks=_from_selfplay("league_callbacks"),
        central_actor=_from_selfplay("start_league_state"),
    ),
    "self-play league under multi_agent: snapshot slots, round-robin overwrites, past opponents per episode",
)

"""Social dilemmas and Randomized Uncertain Social Preferences (Baker 2020, PAPERS.md section 4).

rusp.py is the `rusp` env_config key, which any multi-agent env takes (`env_config: {rusp: {}}`);
each game is a PettingZoo ParallelEnv of its own module: prisoners_dilemma.py (`prisoners_dilemma`),
indirect_reciprocity.py (`indirect_reciprocity`), prisoners_buddy.py (`prisoners_buddy`), all
built on repeated_game.py (rounds until a coin ends the game); and oasis.py (`oasis`), survival
among three on hide-and-seek's MuJoCo engine, its rules in oasis_rules.py.
"""

import importlib
from collections.abc import Callable
from typing import Any

from rapid.envs.social.oasis_rules import METRIC_KEYS as OASIS_METRICS
from rapid.platform.episode_metrics import EpisodeMetric
from rapid.platform.plugins import validate_settings
from rapid.platform.registry import ENVS, WRAPPERS, import_attr


def _game(module: str, config: str, env: str) -> Callable[[dict[str, Any]], Any]:
    """A game's maker: its env_config validated first (a bad key fails with its name)."""

    def make(env_config: dict[str, Any]) -> Any:
        found = importlib.import_module(f"rapid.envs.social.{module}")
        return getattr(found, env)(validate_settings(getattr(found, config), dict(env_config), ("env_config",)))

    return make


make_prisoners_dilemma = _game("prisoners_dilemma", "PrisonersDilemmaConfig", "PrisonersDilemmaEnv")
make_indirect_reciprocity = _game("indirect_reciprocity", "IndirectReciprocityConfig", "IndirectReciprocityEnv")
make_prisoners_buddy = _game("prisoners_buddy", "PrisonersBuddyConfig", "PrisonersBuddyEnv")
make_oasis = _game("oasis", "OasisConfig", "OasisEnv")


WRAPPERS.add(
    "rusp",
    lambda: import_attr("rapid.envs.social.rusp", "RUSP_WRAPPER"),
    "Randomized Uncertain Social Preferences on any multi-agent env: random teams share rewards, each agent sees them noisily",
)
ENVS.add(
    "prisoners_dilemma",
    lambda: make_prisoners_dilemma,
    "the iterated Prisoner's Dilemma: 2 players, payoffs 2/-2/4/0, ending after each round with probability 0.1",
    episode_metrics={"cooperation": EpisodeMetric("cooperation")},
)
ENVS.add(
    "indirect_reciprocity",
    lambda: make_indirect_reciprocity,
    "indirect reciprocity: 3 agents, a random pair plays the Prisoner's Dilemma each round while the rest watch",
    episode_metrics={key: EpisodeMetric(key) for key in ("cooperation", "cooperation_with_last")},
)
ENVS.add(
    "prisoners_buddy",
    lambda: make_prisoners_buddy,
    "Prisoner's Buddy: 5 agents choose partners; every 5th step a returned choice pays +2 each, an unreturned one -2",
    episode_metrics={key: EpisodeMetric(key) for key in ("mutual_share", "pair_length", "team_changes")},
)
ENVS.add(
    "oasis",
    lambda: make_oasis,
    "Oasis: 3 agents in MuJoCo must eat to live; one food source feeds one well, two barely; they may attack",
    episode_metrics={key: EpisodeMetric(key) for key in OASIS_METRICS},
)

"""Social dilemmas and Randomized Uncertain Social Preferences (Baker 2020, PAPERS.md section 4).

rusp.py is the `rusp` env_config key, which any multi-agent env takes (`env_config: {rusp: {}}`);
each game is a PettingZoo ParallelEnv of its own module: prisoners_dilemma.py (`prisoners_dilemma`).
"""

from typing import Any

from rapid.platform.episode_metrics import EpisodeMetric
from rapid.platform.plugins import validate_settings
from rapid.platform.registry import ENVS, WRAPPERS, import_attr


def make_prisoners_dilemma(env_config: dict[str, Any]) -> Any:
    """The iterated Prisoner's Dilemma for an env_config, validated first (a bad key fails with its name)."""
    from rapid.envs.social.prisoners_dilemma import PrisonersDilemmaConfig, PrisonersDilemmaEnv

    return PrisonersDilemmaEnv(validate_settings(PrisonersDilemmaConfig, dict(env_config), ("env_config",)))


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

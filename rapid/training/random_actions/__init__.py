"""`random_actions: <share>`: a share of exploring steps takes a uniform random action (HER's DDPG: 0.3).

The connector (connector.py) replaces the module's action before the env steps with it, so
an off-policy learner learns from what was taken; an on-policy one weighs each action by the
probability the policy gave it, which a random action does not have.
"""

from functools import partial
from typing import Annotated, Any

from pydantic import Field

from rapid.platform.plugins import Section
from rapid.platform.registry import SECTIONS, import_attr

# Algorithms that learn from whichever action was taken.
RANDOM_ACTION_ALGORITHMS = ("SAC", "DQN")


def _needs_off_policy(share: float, job: Any) -> None:
    if share > 0 and job.algorithm not in RANDOM_ACTION_ALGORITHMS:
        raise ValueError(
            f"random actions need an off-policy algorithm, {' or '.join(RANDOM_ACTION_ALGORITHMS)}, not {job.algorithm}: "
            "its learner weighs each action by the probability the policy gave it"
        )


def _configure(config: Any, job: Any, share: float | None) -> None:
    if share:
        connector = import_attr("rapid.training.random_actions.connector", "RandomActions")
        random_actions = partial(connector, share=share, normalized=config.normalize_actions)
        config.env_runners(module_to_env_connector=lambda env, spaces: random_actions())


SECTIONS.add(
    "random_actions",
    lambda: Section(
        schema=Annotated[float, Field(ge=0.0, le=1.0)],
        default=0.0,
        description="share of exploring steps that take a uniform random action (HER's DDPG: 0.3)",
        check=_needs_off_policy,
        configure=_configure,
    ),
    "share of exploring steps that take a uniform random action (SAC, DQN)",
)

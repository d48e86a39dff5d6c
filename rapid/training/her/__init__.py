"""Hindsight Experience Replay (Andrychowicz et al. 2017): the `her:` section of an RLlib job.

On a goal env (Dict observations with achieved and desired goals, and `compute_reward`) SAC's
replay buffer relabels a share of sampled transitions with goals the episode reached
(buffer.py); `HindsightSAC` feeds them to the learner (algorithm.py). A goal env's job gets
the same buffer with `her: null`, which never relabels: the no-HER baseline.
"""

from typing import Any, Literal

from pydantic import Field

from rapid.platform.plugins import Section, Strict
from rapid.platform.registry import ENVS, SECTIONS, import_attr

# Off-policy algorithms whose episode replay buffer rapid can relabel.
HER_ALGORITHMS = ("SAC",)


class HER(Strict):
    """Which achieved goals relabel a sampled transition."""


    strategy: Literal["future", "final", "episode"] = Field("future", description="where relabelled goals come from")
    k: int = Field(4, ge=1, description="relabelled goals per real one: a k/(k+1) share of samples is relabelled")


def _needs_replay(her: HER, job: Any) -> None:
    if job.algorithm not in HER_ALGORITHMS:
        needs = " or ".join(HER_ALGORITHMS)
        raise ValueError(f"HER relabels an off-policy replay buffer: needs algorithm {needs}, not {job.algorithm}")


def _goal_env(her: HER, env: Any, job: Any) -> str | None:
    problem = import_attr("rapid.training.her.buffer", "goal_env_problem")(env)
    return f"env '{job.env}' is not a goal env HER can relabel: {problem}" if problem else None


def _configure(config: Any, job: Any, her: HER | None) -> None:
    if her is not None or ENVS.entry(job.env).extra.get("goal_env", False):
        import_attr("rapid.training.her.algorithm", "configure_hindsight")(config, job, her)


SECTIONS.add(
    "her",
    lambda: Section(
        schema=HER,
        description="Hindsight Experience Replay on a goal env (null: no relabelling)",
        check=_needs_replay,
        check_env=_goal_env,
        configure=_configure,
    ),
    "Hindsight Experience Replay on a goal env: {strategy: future|final|episode, k} (SAC)",
)

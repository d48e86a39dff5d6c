"""The Multi-Agent Particle Environments (Lowe et al. 2017; Mordatch & Abbeel 2018) from MPE2, as PettingZoo ParallelEnvs.

env_config is the env's own keyword arguments (`max_cycles`, `num_good`, `num_adversaries`,
`continuous_actions`, ...). Agents are named `adversary_<i>` and `agent_<i>`, so a job maps
them to policies with globs (`adversary_*: predator`).
"""

import importlib
from functools import partial
from typing import Any

from rapid.platform.registry import ENVS

MPE_TASKS = {
    "simple_tag_v3": "predator-prey: 3 slower adversaries chase 1 faster good agent among 2 obstacles (competitive)",
    "simple_adversary_v3": "1 adversary tries to reach the target landmark the 2 good agents cover, not knowing which it is",
    "simple_push_v3": "1 adversary pushes the good agent away from its landmark (competitive)",
    "simple_world_comm_v3": "simple_tag with a leader adversary that talks, forests that hide, and food",
    "simple_spread_v3": "3 agents cover 3 landmarks without colliding (cooperative)",
    "simple_reference_v3": "2 agents each tell the other which landmark to go to (cooperative, communication)",
}


def make_mpe(task: str, env_config: dict[str, Any]) -> Any:
    """`mpe2.<task>.parallel_env(**env_config)`."""
    return importlib.import_module(f"mpe2.{task}").parallel_env(**env_config)


for _task, _summary in MPE_TASKS.items():
    ENVS.add(f"mpe2/{_task}", lambda task=_task: partial(make_mpe, task), f"MPE2 {_summary}")

"""Env ids a spec may name, and the env wrappers any of them can take; each workload's own envs
live in the subpackages beside this file (rapid finds them by walking the folder)."""

from rapid.envs.gymnasium_suite import register_gymnasium_envs
from rapid.platform.registry import WRAPPERS, import_attr

register_gymnasium_envs()
WRAPPERS.add(
    "randomization",
    lambda: import_attr("rapid.envs.domain_randomization", "RANDOMIZATION_WRAPPER"),
    "domain randomization of any MuJoCo env: model fields, noise, latency, pushes (a preset name or a mapping)",
)
WRAPPERS.add(
    "physics_guard",
    lambda: import_attr("rapid.envs.physics_guard", "PHYSICS_GUARD"),
    "ends an episode on diverged MuJoCo physics (no reward; counted as sim_unstable); on for every MuJoCo env",
)

"""Env ids a spec may name, the env wrappers any of them can take, and the rollout recorder that
steps any of them into a dataset; each workload's own envs live in the subpackages beside this
file (rapid finds them by walking the folder)."""

from rapid.envs.gymnasium_suite import register_gymnasium_envs
from rapid.platform.plugins import DataStep
from rapid.platform.registry import DATA_STEPS, WRAPPERS, import_attr


def _recorder() -> DataStep:
    from rapid.platform import rollout_recorder as recorder

    return DataStep(schema=recorder.RecorderSettings, run=recorder.record_rollouts, metric="frames",
                    inputs=recorder.recorder_inputs, check=recorder.check_recorder, resources=recorder.recorder_resources)


register_gymnasium_envs()
DATA_STEPS.add(
    "record_rollouts",
    _recorder,
    "steps any registered env with a policy (random, a scripted player, a checkpoint) in parallel actors into a dataset",
)
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

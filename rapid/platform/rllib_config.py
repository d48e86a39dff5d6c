"""An RLlib new-API-stack AlgorithmConfig built from a `kind: rllib` job."""

from functools import partial

from ray import tune
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.connectors.env_to_module import FlattenObservations
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from rapid.platform.registry import ALGORITHMS, ENVS, MODULES
from rapid.platform.spec import HER_ALGORITHMS, RLlibJob
from rapid.training.episode_metrics import log_final_info
from rapid.training.her import HindsightSAC
from rapid.training.random_actions import RandomActions


def register_env(job: RLlibJob) -> None:
    """Make the job's env id known to every EnvRunner of the connected Ray cluster."""
    tune.register_env(job.env, ENVS.get(job.env))


def build_algorithm_config(job: RLlibJob) -> AlgorithmConfig:
    """The AlgorithmConfig the spec describes: env, runners, learners, module, training, evaluation."""
    config: AlgorithmConfig = ALGORITHMS.get(job.algorithm)()
    res = job.resources
    config.environment(env=job.env, env_config=job.env_config)
    config.env_runners(
        num_env_runners=res.env_runners,
        num_envs_per_env_runner=res.envs_per_env_runner,
        num_cpus_per_env_runner=res.cpus_per_env_runner,
        num_gpus_per_env_runner=res.gpus_per_env_runner,
    )
    if job.env_config.get("vector_threads", 1) > 1:
        # The env's own vector (rapid.envs.wrapping.make_env) steps its sub-envs in threads.
        config.env_runners(gym_env_vectorize_mode="vector_entry_point")
    config.learners(
        num_learners=res.learners,
        num_cpus_per_learner=res.cpus_per_learner,
        num_gpus_per_learner=res.gpus_per_learner,
    )
    module_class = MODULES.get(job.policy.module)
    if module_class is None:
        config.rl_module(model_config=dict(job.policy.model_config_))
    else:
        config.rl_module(rl_module_spec=RLModuleSpec(module_class=module_class, model_config=dict(job.policy.model_config_)))
    config.training(**job.training)
    if job.random_actions > 0:
        random_actions = partial(RandomActions, share=job.random_actions, normalized=config.normalize_actions)
        config.env_runners(module_to_env_connector=lambda env, spaces: random_actions())
    env_entry = ENVS.entry(job.env)
    if env_entry.extra.get("goal_env", False) or job.her is not None:
        _hindsight(config, job)
    if job.evaluation is not None:
        ev = job.evaluation
        config.evaluation(
            evaluation_interval=ev.every,
            evaluation_duration=ev.episodes,
            evaluation_duration_unit="episodes",
            evaluation_num_env_runners=ev.env_runners,
            evaluation_config={"explore": ev.explore, "env_config": {**job.env_config, **ev.env_config}},
        )
    episode_metrics = env_entry.extra.get("episode_metrics")
    if episode_metrics:
        config.callbacks(on_episode_end=partial(log_final_info, episode_metrics))
    if job.seed is not None:
        config.debugging(seed=job.seed)
    return config


def _hindsight(config: AlgorithmConfig, job: RLlibJob) -> None:
    """A goal env's Dict observation reaches the module flattened by RLlib's own connector
    (achieved_goal | desired_goal | observation, as HER's buffer expects it); SAC gets the
    relabelling buffer, which with `her: null` never relabels (the no-HER baseline)."""
    config.env_runners(env_to_module_connector=lambda env, spaces, device: FlattenObservations())
    if job.algorithm in HER_ALGORITHMS:
        config.algo_class = HindsightSAC
        her = job.her.model_dump() if job.her is not None else None
        config.training(replay_buffer_config={**config.replay_buffer_config, "type": "EpisodeReplayBuffer", "her": her})

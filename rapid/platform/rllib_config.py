"""An RLlib new-API-stack AlgorithmConfig built from a `kind: rllib` job.

The builder knows RLlib's own knobs; everything a workload adds (a replay buffer, a
connector, callbacks, a loss term, opponents) comes from the plug-in sections the job turns on.
"""

from functools import partial
from typing import Any

from ray import tune
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig

from rapid.platform.env_stack import env_config_of, make_env, wrapper_stack
from rapid.platform.episode_metrics import EpisodeMetric, log_final_info
from rapid.platform.initial_weights import LoadStartingWeights, starting_weights
from rapid.platform.learner_extension import with_loss_terms
from rapid.platform.multi_agent import GlobMapping, configure_multi_agent, policy_mapping
from rapid.platform.registry import ALGORITHMS, CALLBACKS, ENVS, MODULES
from rapid.platform.spec import RLlibJob
from rapid.platform.spec_parts import Evaluation, MultiAgent


def register_env(job: RLlibJob, actors: dict[str, Any] | None = None, name: str | None = None, outer: Any = None) -> str:
    """Make the job's env known to every EnvRunner of the connected Ray cluster, as `name` (a trial's
    own name: its envs carry its central actors); `outer` wraps each env made (a frame recorder)."""
    creator = partial(make_env, job.env, actors=actors or {})
    tune.register_env(name or job.env, creator if outer is None else lambda env_config: outer(creator(env_config)))
    return name or job.env


def build_algorithm_config(job: RLlibJob, env: str | None = None, actors: dict[str, Any] | None = None) -> AlgorithmConfig:
    """The AlgorithmConfig the spec describes: env (registered as `env`), runners, learners, modules,
    training, the plug-ins' additions, evaluation; `actors` are the trial's central actors."""
    config: AlgorithmConfig = ALGORITHMS.get(job.algorithm)()
    res = job.resources
    config.environment(env=env or job.env, env_config=job.env_config)
    config.env_runners(
        num_env_runners=res.env_runners,
        num_envs_per_env_runner=res.envs_per_env_runner,
        num_cpus_per_env_runner=res.cpus_per_env_runner,
        num_gpus_per_env_runner=res.gpus_per_env_runner,
    )
    if job.env_config.get("vector_threads", 1) > 1:
        # The env's own vector (rapid.platform.env_stack.make_env) steps its sub-envs in threads.
        config.env_runners(gym_env_vectorize_mode="vector_entry_point")
    config.learners(
        num_learners=res.learners,
        num_cpus_per_learner=res.cpus_per_learner,
        num_gpus_per_learner=res.gpus_per_learner,
    )
    if job.multi_agent is not None:
        configure_multi_agent(config, job)
    elif MODULES.get(job.policy.module) is None:
        config.rl_module(model_config=dict(job.policy.model_config_))
    else:
        config.rl_module(rl_module_spec=job.policy.module_spec())
    config.training(**job.training)
    for _, section, settings in job.plugin_sections():
        if section.configure is not None:
            section.configure(config, job, settings)
    if job.evaluation is not None:
        ev = job.evaluation
        config.evaluation(
            evaluation_interval=ev.every,
            evaluation_duration=ev.episodes,
            evaluation_duration_unit="episodes",
            evaluation_num_env_runners=ev.env_runners,
            evaluation_config={
                "explore": ev.explore,
                "env_config": {**job.env_config, **ev.env_config},
                **({"policy_mapping_fn": evaluation_mapping(ev, job.multi_agent)} if job.multi_agent is not None else {}),
            },
        )
    _add_callbacks(config, job, actors or {})
    terms = [section.loss_term(settings, job) for _, section, settings in job.plugin_sections()
             if section.loss_term is not None and settings is not None]
    if terms:
        config.learners(learner_class=with_loss_terms(config.learner_class, terms))
    if job.seed is not None:
        config.debugging(seed=job.seed)
    return config


def evaluation_mapping(evaluation: Evaluation, multi_agent: MultiAgent) -> Any:
    """Evaluation's agents play `evaluation.policy_mapping`, else the spec's own mapping: never a
    league's snapshots, which only training draws."""
    if evaluation.policy_mapping is not None:
        return GlobMapping(evaluation.policy_mapping)
    return policy_mapping(multi_agent)


def episode_metrics(job: RLlibJob) -> dict[str, EpisodeMetric]:
    """What the job's episodes report at their end: the env's figures and its wrappers'."""
    metrics = dict(ENVS.entry(job.env).extra.get("episode_metrics", {}))
    for _, wrapper, _ in wrapper_stack(env_config_of(job.env, job.env_config)):
        metrics.update(wrapper.episode_metrics)
    return metrics


def _add_callbacks(config: AlgorithmConfig, job: RLlibJob, actors: dict[str, Any]) -> None:
    """One composed list: the starting weights' loader, the spec's `callbacks:`, each turned-on
    section's, then the episode metrics of the env and its wrappers."""
    starts = starting_weights(job)
    classes = [partial(LoadStartingWeights, starts=starts)] if starts else []
    classes += [CALLBACKS.get(name) for name in job.callbacks]
    for name, section, settings in job.plugin_sections():
        if section.callbacks is not None and settings is not None:
            classes += section.callbacks(settings, job, actors.get(name))
    hooks = {}
    metrics = episode_metrics(job)
    if metrics or job.multi_agent is not None:
        hooks["on_episode_end"] = partial(log_final_info, metrics)
    if classes:
        config.callbacks(callbacks_class=classes, **hooks)
    elif hooks:
        config.callbacks(**hooks)

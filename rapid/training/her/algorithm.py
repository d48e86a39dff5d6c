"""`HindsightSAC`: rapid's SAC with the relabelling buffer of buffer.py feeding its learner ready columns,
and `configure_hindsight`, what the `her:` section does to a job's AlgorithmConfig."""

from typing import Any

from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.algorithms.dqn.dqn import calculate_rr_weights
from ray.rllib.connectors.env_to_module import FlattenObservations
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns
from ray.rllib.execution.rollout_ops import synchronous_parallel_sample
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
from ray.rllib.utils.metrics import (
    ENV_RUNNER_RESULTS,
    ENV_RUNNER_SAMPLING_TIMER,
    LEARNER_RESULTS,
    LEARNER_UPDATE_TIMER,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    REPLAY_BUFFER_ADD_DATA_TIMER,
    REPLAY_BUFFER_RESULTS,
    REPLAY_BUFFER_SAMPLE_TIMER,
    SYNCH_WORKER_WEIGHTS_TIMER,
    TD_ERROR_KEY,
    TIMERS,
)

from rapid.training.her import HER_ALGORITHMS
from rapid.training.her.buffer import HindsightReplayBuffer
from rapid.training.sac import RapidSAC


class HindsightSAC(RapidSAC):
    """SAC whose replay buffer is a HindsightReplayBuffer, feeding its learner ready columns.

    RLlib accepts only its own buffer type names in replay_buffer_config, so the buffer is
    created here. `training_step` is RLlib's off-policy step (the same round robin of sampling
    and updates, set by `training_intensity`) with the learner given the buffer's batch instead
    of episodes to run through its connectors.
    """

    def _create_local_replay_buffer_if_necessary(self, config: dict[str, Any]) -> HindsightReplayBuffer:
        options = {k: v for k, v in config["replay_buffer_config"].items() if k not in ("type", "her", "goal_env")}
        her = config["replay_buffer_config"].get("her") or {"strategy": None}
        return HindsightReplayBuffer(
            env=config["replay_buffer_config"]["goal_env"],
            env_config=self.config.env_config,
            metrics_num_episodes_for_smoothing=self.config.metrics_num_episodes_for_smoothing,
            **her,
            **options,
        )

    def training_step(self) -> None:
        store_rounds, train_rounds = calculate_rr_weights(self.config)
        for _ in range(store_rounds):
            with self.metrics.log_time((TIMERS, ENV_RUNNER_SAMPLING_TIMER)):
                episodes, runner_results = synchronous_parallel_sample(
                    worker_set=self.env_runner_group,
                    concat=True,
                    sample_timeout_s=self.config.sample_timeout_s,
                    _uses_new_env_runners=True,
                    _return_metrics=True,
                )
            self.metrics.aggregate(runner_results, key=ENV_RUNNER_RESULTS)
            with self.metrics.log_time((TIMERS, REPLAY_BUFFER_ADD_DATA_TIMER)):
                self.local_replay_buffer.add(episodes)
        sampled = self.metrics.peek((ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=0)
        if sampled < self.config.num_steps_sampled_before_learning_starts:
            return
        for _ in range(train_rounds):
            with self.metrics.log_time((TIMERS, REPLAY_BUFFER_SAMPLE_TIMER)):
                columns = self.local_replay_buffer.sample(
                    self.config.total_train_batch_size,
                    n_step=self.config.n_step,
                    gamma=self.config.gamma,
                    batch_length_T=self._module_is_stateful * self.config.model_config.get("max_seq_len", 0),
                )
                self.metrics.aggregate([self.local_replay_buffer.get_metrics()], key=REPLAY_BUFFER_RESULTS)
            with self.metrics.log_time((TIMERS, LEARNER_UPDATE_TIMER)):
                batch = MultiAgentBatch({DEFAULT_MODULE_ID: SampleBatch(columns)}, env_steps=len(columns[Columns.T]))
                results = self.learner_group.update(batch=batch, timesteps={NUM_ENV_STEPS_SAMPLED_LIFETIME: sampled})
                # One TD error per sample, which RLlib's step takes out for prioritized replay: not a figure to log.
                for result in results:
                    for module_results in result.values():
                        module_results.pop(TD_ERROR_KEY, None)
                self.metrics.aggregate(results, key=LEARNER_RESULTS)
        with self.metrics.log_time((TIMERS, SYNCH_WORKER_WEIGHTS_TIMER)):
            self.env_runner_group.sync_weights(
                from_worker_or_learner_group=self.learner_group, policies=[DEFAULT_MODULE_ID], inference_only=True
            )


def configure_hindsight(config: AlgorithmConfig, job: Any, her: Any) -> None:
    """A goal env's Dict observation reaches the module flattened by RLlib's own connector
    (achieved_goal | desired_goal | observation, as HER's buffer expects it); SAC gets the
    relabelling buffer, which with `her: null` never relabels (the no-HER baseline)."""
    config.env_runners(env_to_module_connector=lambda env, spaces, device: FlattenObservations())
    if job.algorithm in HER_ALGORITHMS:
        config.algo_class = HindsightSAC
        settings = her.model_dump() if her is not None else None
        buffer = {**config.replay_buffer_config, "type": "EpisodeReplayBuffer", "her": settings, "goal_env": job.env}
        config.training(replay_buffer_config=buffer)

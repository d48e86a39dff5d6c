"""The Tune trainable behind every RLlib job: one Algorithm, built from a validated job spec.

`kind: rllib` runs it as a single trial and `kind: sweep` with `trainable: rllib` as many;
either way Tune gives checkpoints, `FailureConfig` restarts and resume. The trial's config
is `{"job": <rllib job body>}` so the spec itself travels to whichever node runs it.
"""

import math
import pickle
import uuid
from pathlib import Path
from typing import Any

from ray import tune
from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.utils.metrics import EVALUATION_RESULTS
from ray.tune.execution.placement_groups import PlacementGroupFactory

from rapid.platform import central_state
from rapid.platform.figures import rllib_figures
from rapid.platform.rllib_config import build_algorithm_config, register_env
from rapid.platform.run_health import HEALTH, HEALTH_REASON, RunHealth, Verdict, nonfinite_losses, nonfinite_weights
from rapid.platform.spec import RLlibJob

# RLlib's new API stack leaves an off-policy algorithm's replay buffer out of its checkpoints.
REPLAY_BUFFER_FILE = "replay_buffer.pkl"


def rllib_body(job: RLlibJob) -> dict[str, Any]:
    """What a trial needs of an RLlib job: everything but its name and where results go."""
    return job.model_dump(by_alias=True, exclude={"kind", "name", "description", "storage_path"})


def job_from_config(config: dict[str, Any]) -> RLlibJob:
    """The RLlib job a trial runs (already validated on the driver; validated again here)."""
    return RLlibJob.model_validate({"kind": "rllib", "name": "trial", **config["job"]})


class RLlibJobTrainable(tune.Trainable):
    """Trains an RLlib Algorithm one iteration per step, reporting rapid's figure row."""

    @classmethod
    def default_resource_request(cls, config: dict[str, Any]) -> PlacementGroupFactory:
        """The Algorithm's own bundles: this process (plus a local learner), EnvRunners, Learners."""
        algo_config = build_algorithm_config(job_from_config(config))
        return algo_config.algo_class.default_resource_request(algo_config)

    def setup(self, config: dict[str, Any]) -> None:
        self.job = job_from_config(config)
        trial = self.trial_id if self.trial_id != "default" else uuid.uuid4().hex[:8]
        # Before the EnvRunners exist. An env whose wrappers talk to central actors is registered
        # under the trial's own name, carrying them; others keep the env's id, which a checkpoint
        # names (Algorithm.from_checkpoint of a Gymnasium env needs nothing registered).
        self.central = central_state.start(self.job, trial)
        env = register_env(self.job, self.central, name=f"{self.job.env}@{trial}" if self.central else None)
        self.algo: Algorithm = build_algorithm_config(self.job, env, self.central).build_algo()
        self.health = RunHealth(self.job.health)

    def step(self) -> dict[str, Any]:
        result = self.algo.train()
        verdict = self._judge(result)
        if not self._evaluated_this_iteration():
            # RLlib's metrics logger repeats the last evaluation in the next iteration's result:
            # keeping it would plot every evaluation twice.
            result.pop(EVALUATION_RESULTS, None)
        row = rllib_figures(result)
        row.update(central_state.metrics(self.central))
        # Tune fails a trial whose result lacks the metric its searcher or scheduler ranks by:
        # an evaluation metric is NaN in the iterations that did not evaluate.
        row.setdefault(self.job.metric, math.nan)
        if verdict is None:
            return row
        # The trial ends here (Tune's `done`) instead of failing: a retry from the checkpoint would fail alike.
        return {**row, HEALTH: verdict.status, HEALTH_REASON: verdict.reason, "done": True}

    def _judge(self, result: dict[str, Any]) -> Verdict | None:
        losses: list[str] = []
        weights: list[str] = []
        if self.job.health.finite_check:
            losses = nonfinite_losses(result)
            for call in self.algo.learner_group.foreach_learner(nonfinite_weights):
                weights += [f"weights of {module}" for module in call.get()] if call.ok else []
        restarts = self.algo.env_runner_group.num_remote_worker_restarts() if self.algo.env_runner_group else 0
        return self.health.judge(result.get("num_env_steps_sampled_lifetime", 0), restarts, losses, weights)

    def _evaluated_this_iteration(self) -> bool:
        """RLlib's own test: evaluate after every `evaluation_interval`-th iteration."""
        interval = self.algo.config.evaluation_interval
        return bool(interval) and self.algo.iteration % interval == 0

    def save_checkpoint(self, checkpoint_dir: str) -> None:
        self.algo.save_to_path(checkpoint_dir)
        central_state.save(self.central, checkpoint_dir)
        buffer = self.algo.local_replay_buffer
        if buffer is not None and self.job.checkpoint.replay_buffer:
            Path(checkpoint_dir, REPLAY_BUFFER_FILE).write_bytes(pickle.dumps(buffer.get_state(), protocol=5))

    def load_checkpoint(self, checkpoint_dir: str) -> None:
        self.algo.load_checkpoint(checkpoint_dir)  # restore_from_path, then the callbacks' on_checkpoint_loaded
        central_state.restore(self.central, checkpoint_dir)
        saved = Path(checkpoint_dir, REPLAY_BUFFER_FILE)
        if self.algo.local_replay_buffer is not None and saved.is_file():
            # RLlib's set_state only refills an empty buffer's episodes: start from a fresh one.
            self.algo.local_replay_buffer = self.algo._create_local_replay_buffer_if_necessary(self.algo.config)
            self.algo.local_replay_buffer.set_state(pickle.loads(saved.read_bytes()))

    def cleanup(self) -> None:
        self.algo.stop()

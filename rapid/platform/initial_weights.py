"""Starting a job from another run's module weights (`init_checkpoint`: a pipeline's earlier stage,
a pretrained policy), as the first callback of the algorithm.

Loaded in `on_algorithm_init`, before any other callback runs: a league then snapshots the
loaded weights, not random ones. A URI (s3://, gs://) works too: RLlib picks the filesystem
from its scheme.
"""

from typing import Any

from ray.rllib.callbacks.callbacks import RLlibCallback

from rapid.platform.spec import RLlibJob

# Where an RLlib checkpoint keeps the learner's modules.
MODULE_WEIGHTS = "learner_group/learner/rl_module"


def starting_weights(job: RLlibJob) -> dict[str, str]:
    """Checkpoint component -> the checkpoint it loads from: the whole module of a single-agent
    job, each policy's own of a multi-agent one."""
    if job.multi_agent is None:
        starts = {MODULE_WEIGHTS: job.policy.init_checkpoint}
    else:
        starts = {f"{MODULE_WEIGHTS}/{name}": p.init_checkpoint for name, p in job.multi_agent.policies.items()}
    return {component: checkpoint.rstrip("/") for component, checkpoint in starts.items() if checkpoint}


class LoadStartingWeights(RLlibCallback):
    """Restores each component from its checkpoint once the algorithm is built (RLlib then syncs the EnvRunners)."""

    def __init__(self, starts: dict[str, str]) -> None:
        super().__init__()
        self.starts = starts

    def on_algorithm_init(self, *, algorithm: Any, **kwargs: Any) -> None:
        for component, checkpoint in self.starts.items():
            algorithm.restore_from_path(f"{checkpoint}/{component}", component=component)

"""Training algorithms a spec may name, and the pieces rapid adds to RLlib's."""

from rapid.training import adr  # noqa: F401  (registers the central ADR actor for env_config key `adr`)
from rapid.training.algorithms import register_rllib_algorithms

register_rllib_algorithms()

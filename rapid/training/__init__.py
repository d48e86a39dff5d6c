"""Training algorithms a spec may name, and the pieces rapid adds to RLlib's (each in its own subpackage)."""

from rapid.training.algorithms import register_rllib_algorithms

register_rllib_algorithms()

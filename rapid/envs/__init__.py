"""Env ids a spec may name; each workload's own envs live in the subpackages beside this file."""

from rapid.envs import robotics  # noqa: F401  (registers the hand envs)
from rapid.envs.gymnasium_suite import register_gymnasium_envs

register_gymnasium_envs()

"""Tune trainables, searchers and schedulers a sweep may name."""

from rapid.sweeps.plugins import register_sweep_plugins
from rapid.sweeps.tune_builtins import register_tune_builtins

register_tune_builtins()
register_sweep_plugins()

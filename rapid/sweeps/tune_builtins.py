"""Tune's own searchers and schedulers, and the trainable that runs an RLlib job spec."""

from rapid.platform.registry import SCHEDULERS, SEARCHERS, TRAINABLES, import_attr


def register_tune_builtins() -> None:
    """Register what Tune ships without extra dependencies."""
    SEARCHERS.add(
        "basic_variant",
        lambda: import_attr("ray.tune.search.basic_variant", "BasicVariantGenerator"),
        "Tune's grid and random search over param_space (the default)",
    )
    schedulers = {
        "fifo": ("FIFOScheduler", "run every trial to its stop criterion (the default)"),
        "asha": ("ASHAScheduler", "asynchronous successive halving: stop the worst trials early"),
        "hyperband": ("HyperBandScheduler", "synchronous HyperBand brackets"),
        "median_stopping": ("MedianStoppingRule", "stop trials below the median of the others"),
    }
    for name, (cls, summary) in schedulers.items():
        SCHEDULERS.add(name, lambda cls=cls: import_attr("ray.tune.schedulers", cls), summary)
    TRAINABLES.add(
        "rllib",
        lambda: import_attr("rapid.platform.trainable", "RLlibJobTrainable"),
        "an RLlib job (the body of a `kind: rllib` spec under `config:`), one trial each",
        check_config=lambda *args: import_attr("rapid.platform.spec_file", "check_rllib_trial_config")(*args),
        from_sweep=("stop", "checkpoint", "max_failures", "metric"),
    )

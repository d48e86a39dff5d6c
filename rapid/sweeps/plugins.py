"""rapid's own sweep parts: the CNN and learning-curve trainables, the MetaQNN searcher and the
performance-prediction schedulers, registered under the names a spec uses."""

from typing import Any

from pydantic import ValidationError

from rapid.platform.errors import RapidError
from rapid.platform.registry import SCHEDULERS, SEARCHERS, TRAINABLES, import_attr
from rapid.sweeps.image_datasets import dataset_shape
from rapid.sweeps.learning_curves import load_curves
from rapid.sweeps.metaqnn_searcher import MetaQNNSettings


def _lazy(module: str, name: str) -> Any:
    return lambda: import_attr(f"rapid.sweeps.{module}", name)


def check_curve_config(config: dict[str, Any], source: str, lines: dict | None = None) -> None:
    """The curve file exists and the row is one of its networks."""
    unknown = set(config) - {"curves", "row"}
    if unknown:
        raise RapidError(f"{source}: config.{sorted(unknown)[0]}: unknown key; expected curves, row")
    if not isinstance(config.get("curves"), str):
        raise RapidError(f"{source}: config.curves: expected the path of a curve file, got {config.get('curves')!r}")
    try:
        curves = load_curves(config["curves"])
    except ValueError as err:
        raise RapidError(f"{source}: config.curves: {err}") from None
    row = config.get("row")
    if not isinstance(row, int) or not 0 <= row < len(curves):
        raise RapidError(f"{source}: config.row: expected a row number in [0, {len(curves)}) of {curves.path}, got {row!r}")


def metaqnn_suggestion(config: dict[str, Any]) -> dict[str, Any]:
    """What the MetaQNN searcher adds to a trial's config, in the smallest network it can suggest."""
    _, classes = dataset_shape(config.get("dataset", "digits"))
    return {"net": [f"SM({classes})"], "epsilon": 1.0}


def check_metaqnn_sweep(job: Any, source: str) -> None:
    """Options valid, the `cnn` trainable, a metric to maximize and a schedule as long as the sweep."""
    try:
        settings = MetaQNNSettings.model_validate(job.search.options)
    except ValidationError as err:
        problems = "; ".join(f"search.options.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise RapidError(f"{source}: {problems}") from None
    if job.trainable != "cnn":
        raise RapidError(f"{source}: search: metaqnn designs networks for the cnn trainable, not {job.trainable!r}")
    if job.mode != "max":
        raise RapidError(f"{source}: mode: metaqnn's reward is an accuracy to maximize; expected max, got {job.mode}")
    if settings.networks != job.num_samples:
        raise RapidError(
            f"{source}: search.options.epsilon_schedule: its stages sample {settings.networks} networks, "
            f"but num_samples is {job.num_samples}; expected them to match"
        )


def check_prediction_sweep(job: Any, source: str) -> None:
    import_attr("rapid.sweeps.performance_prediction", "check_prior")(job, source)


def register_sweep_plugins() -> None:
    TRAINABLES.add(
        "cnn",
        _lazy("cnn_trainable", "CNNTrainable"),
        "trains a MetaQNN layer list on digits, MNIST, CIFAR-10 or SVHN; reports val_accuracy each epoch",
        check_config=lambda *args: import_attr("rapid.sweeps.cnn_trainable", "check_cnn_config")(*args),
        check_data=lambda *args: import_attr("rapid.sweeps.cnn_trainable", "check_cnn_data")(*args),
        path_keys=("data_dir",),
        reuse_actors=True,
    )
    TRAINABLES.add(
        "learning_curve",
        _lazy("learning_curves", "LearningCurveReplay"),
        "replays a recorded learning curve one epoch per step (judge schedulers on real curves in seconds)",
        check_config=check_curve_config,
        path_keys=("curves",),
        reuse_actors=True,
    )
    SEARCHERS.add(
        "metaqnn",
        _lazy("metaqnn_searcher", "MetaQNNSearcher"),
        "MetaQNN: Q-learning designs CNNs layer by layer for the cnn trainable",
        suggestion=metaqnn_suggestion,
        check_sweep=check_metaqnn_sweep,
        ends_itself=True,  # FINISHED after num_samples networks, counted in its own state
    )
    SCHEDULERS.add(
        "performance_prediction",
        _lazy("performance_prediction", "PerformancePredictionScheduler"),
        "stops trials whose predicted final metric is unlikely to beat the best (learning-curve regression)",
        check_sweep=check_prediction_sweep,
    )
    SCHEDULERS.add(
        "performance_prediction_hyperband",
        _lazy("performance_prediction", "PerformancePredictionHyperband"),
        "asynchronous Hyperband brackets plus the performance-prediction stop",
        check_sweep=check_prediction_sweep,
    )

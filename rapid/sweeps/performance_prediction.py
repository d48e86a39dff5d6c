"""Sequential-regression performance prediction (Baker et al. 2018) as Tune trial schedulers.

One regressor per number of observed epochs t learns, from trials that ran to `max_t`, to
predict the final value from the first t values of a curve (plus architecture and
hyperparameter features the trials report). A running trial at epoch t is stopped when the
prediction, taken as a Gaussian with the model's cross-validated error as its spread, gives it
less than `threshold` probability of beating the best final value seen so far.
"""

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from ray.tune.schedulers import AsyncHyperBandScheduler, FIFOScheduler, TrialScheduler
from scipy.stats import norm
from sklearn.base import RegressorMixin
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import NuSVR

# name -> (regressor, the hyperparameter grid cross-validation picks from). Inputs and target are
# standardized first: perplexities in the hundreds and accuracies in [0, 1] get the same grid.
REGRESSORS = {
    "nu_svr": (lambda: NuSVR(kernel="rbf"), {"C": [1.0, 10.0, 100.0], "gamma": ["scale", 0.01, 0.001]}),
    "random_forest": (lambda: RandomForestRegressor(n_estimators=100, random_state=0), {}),
    "linear": (LinearRegression, {}),
}
# A model is refitted once the finished trials have grown by a quarter since its last fit.
REFIT_GROWTH = 1.25
# Cross-validation folds: they pick the hyperparameters and give the model's error estimate.
FOLDS = 5


def curve_features(curve: Sequence[float]) -> np.ndarray:
    """The paper's curve features: the values so far, their first and second differences, and
    the mean and standard deviation of each of those three (0 where there is nothing to take)."""
    values = np.asarray(curve, dtype=np.float64)
    first, second = np.diff(values), np.diff(values, n=2)
    summaries = [f(x) if x.size else 0.0 for x in (values, first, second) for f in (np.mean, np.std)]
    return np.concatenate([values, first, second, summaries])


def squash(values: Sequence[float]) -> np.ndarray:
    """sign(x) log(1 + |x|): parameter counts in the millions beside learning rates of 1e-3."""
    x = np.asarray(values, dtype=np.float64)
    return np.sign(x) * np.log1p(np.abs(x))


def fit_regressor(name: str, x: np.ndarray, y: np.ndarray) -> tuple[RegressorMixin, float]:
    """The regressor fitted on (x, y) with cross-validated hyperparameters, and its out-of-fold
    RMSE: how far a prediction is typically off, the spread of the stop rule's Gaussian."""
    make, grid = REGRESSORS[name]
    model = TransformedTargetRegressor(Pipeline([("scale", StandardScaler()), ("fit", make())]), transformer=StandardScaler())
    search = GridSearchCV(model, {f"regressor__fit__{k}": v for k, v in grid.items()}, cv=FOLDS, scoring="neg_mean_squared_error")
    search.fit(x, y)
    return search.best_estimator_, max(math.sqrt(-search.best_score_), 1e-9)


class CurvePredictor:
    """The per-epoch-count regressors and the stop rule, independent of Tune."""

    def __init__(self, max_t: int, regressor: str = "nu_svr", min_finished: int = 20, threshold: float = 0.05) -> None:
        if regressor not in REGRESSORS:
            raise ValueError(f"regressor: expected one of {', '.join(REGRESSORS)}, got {regressor!r}")
        if max_t < 2:
            raise ValueError(f"max_t: expected at least 2 epochs, got {max_t}")
        if min_finished < FOLDS:
            raise ValueError(f"min_finished: expected at least {FOLDS} (the cross-validation folds), got {min_finished}")
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold: expected a probability in (0, 1), got {threshold}")
        self.max_t, self.regressor, self.min_finished, self.threshold = max_t, regressor, min_finished, threshold
        self.finished: list[tuple[np.ndarray, np.ndarray]] = []  # (curve of max_t values, extra features)
        self._models: dict[int, tuple[RegressorMixin, float, int]] = {}  # t -> (model, error, curves it saw)

    def add_finished(self, curve: Sequence[float], extra: Sequence[float]) -> None:
        self.finished.append((np.asarray(curve[: self.max_t], dtype=np.float64), squash(extra)))

    def drop_extras(self) -> None:
        """Predict from the curves alone from now on: a trial came without the extra features."""
        self.finished = [(curve, np.empty(0)) for curve, _ in self.finished]
        self._models.clear()

    def best_final(self, mode: str) -> float:
        finals = [c[-1] for c, _ in self.finished]
        return (max if mode == "max" else min)(finals) if finals else math.nan

    def _model(self, t: int) -> tuple[RegressorMixin, float]:
        """The model for t observed epochs, refitted as the finished set grows."""
        n = len(self.finished)
        fitted = self._models.get(t)
        if fitted is None or n >= fitted[2] * REFIT_GROWTH:
            x = np.stack([np.concatenate([curve_features(c[:t]), e]) for c, e in self.finished])
            y = np.array([c[-1] for c, _ in self.finished])
            fitted = (*fit_regressor(self.regressor, x, y), n)
            self._models[t] = fitted
        return fitted[0], fitted[1]

    def predict(self, curve: Sequence[float], extra: Sequence[float]) -> tuple[float, float]:
        """Predicted final value and its estimated error for a partial curve."""
        model, error = self._model(len(curve))
        x = np.concatenate([curve_features(curve), squash(extra)])[None]
        return float(model.predict(x)[0]), error

    def chance_to_beat_best(self, curve: Sequence[float], extra: Sequence[float], mode: str) -> float | None:
        """P(final beats the best final so far), or None while too few trials have finished."""
        if len(self.finished) < self.min_finished or not 0 < len(curve) < self.max_t:
            return None
        mean, error = self.predict(curve, extra)
        z = (self.best_final(mode) - mean) / error
        return float(norm.sf(z) if mode == "max" else norm.cdf(z))

    def hopeless(self, curve: Sequence[float], extra: Sequence[float], mode: str) -> bool:
        chance = self.chance_to_beat_best(curve, extra, mode)
        return chance is not None and chance < self.threshold


class _Predicting:
    """The part both schedulers share: keep each trial's curve, learn from the finished ones, stop
    the hopeless ones before the scheduler underneath gets its say."""

    def _init_prediction(self, time_attr: str, features: Sequence[str], predictor: CurvePredictor) -> None:
        self.time_attr, self.features, self.predictor = time_attr, tuple(features), predictor
        self.curves: dict[str, list[float] | None] = {}
        self.extras: dict[str, list[float]] = {}
        self.all_features = True
        self.stopped_by_prediction = 0

    def _observe(self, trial: Any, result: dict[str, Any]) -> None:
        """Add a result to the trial's curve. A trial restored from a checkpoint repeats epochs; one
        whose earlier epochs this scheduler never saw (a resumed sweep) has no usable curve (None)."""
        value, t = result.get(self._metric), result.get(self.time_attr)
        if not isinstance(value, int | float) or not isinstance(t, int | float):
            return
        curve = self.curves.get(trial.trial_id, [])
        if curve is None or int(t) - 1 > len(curve):
            self.curves[trial.trial_id] = None
            return
        self.curves[trial.trial_id] = [*curve[: int(t) - 1], float(value)]
        extra = [float(result[k]) for k in self.features if isinstance(result.get(k), int | float)]
        self.extras[trial.trial_id] = extra
        if self.all_features and len(extra) < len(self.features):
            self.all_features = False
            self.predictor.drop_extras()

    def _extra(self, trial_id: str) -> list[float]:
        """Features are used only when every trial reports all of them."""
        return self.extras[trial_id] if self.all_features else []

    def _prediction_says_stop(self, trial: Any, result: dict[str, Any]) -> bool:
        self._observe(trial, result)
        curve = self.curves.get(trial.trial_id)
        if curve and self.predictor.hopeless(curve, self._extra(trial.trial_id), self._mode):
            self.stopped_by_prediction += 1
            return True
        return False

    def _record_finished(self, trial: Any, result: dict[str, Any]) -> None:
        """Tune hands a trial's last result to on_trial_complete only, not to on_trial_result."""
        self._observe(trial, result)
        curve = self.curves.get(trial.trial_id) or []
        if len(curve) >= self.predictor.max_t:
            self.predictor.add_finished(curve, self._extra(trial.trial_id))


class PerformancePredictionScheduler(_Predicting, FIFOScheduler):
    """Runs trials in order and stops those the prediction calls hopeless."""

    def __init__(
        self,
        max_t: int,
        time_attr: str = "training_iteration",
        threshold: float = 0.05,
        regressor: str = "nu_svr",
        min_finished: int = 20,
        features: Sequence[str] = ("num_params", "depth", "lr"),
        metric: str | None = None,
        mode: str | None = None,
    ) -> None:
        FIFOScheduler.__init__(self)
        self._metric, self._mode = metric, mode
        self._init_prediction(time_attr, features, CurvePredictor(max_t, regressor, min_finished, threshold))

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        self._metric, self._mode = self._metric or metric, self._mode or mode
        return True

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        return TrialScheduler.STOP if self._prediction_says_stop(trial, result) else TrialScheduler.CONTINUE

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> None:
        self._record_finished(trial, result)


class PerformancePredictionHyperband(_Predicting, AsyncHyperBandScheduler):
    """Asynchronous Hyperband brackets (Tune's ASHA) with the prediction's stop on top: a trial
    goes on only when its rung keeps it and the prediction does not call it hopeless."""

    def __init__(
        self,
        max_t: int,
        time_attr: str = "training_iteration",
        threshold: float = 0.05,
        regressor: str = "nu_svr",
        min_finished: int = 20,
        features: Sequence[str] = ("num_params", "depth", "lr"),
        grace_period: int = 1,
        reduction_factor: float = 4,
        brackets: int = 1,
        metric: str | None = None,
        mode: str | None = None,
    ) -> None:
        AsyncHyperBandScheduler.__init__(
            self, time_attr=time_attr, metric=metric, mode=mode, max_t=max_t,
            grace_period=grace_period, reduction_factor=reduction_factor, brackets=brackets,
        )  # fmt: skip
        self._init_prediction(time_attr, features, CurvePredictor(max_t, regressor, min_finished, threshold))

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        if self._prediction_says_stop(trial, result):
            return TrialScheduler.STOP  # Tune then calls on_trial_complete, which forgets the trial
        return AsyncHyperBandScheduler.on_trial_result(self, tune_controller, trial, result)

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> None:
        self._record_finished(trial, result)
        AsyncHyperBandScheduler.on_trial_complete(self, tune_controller, trial, result)

"""Sequential-regression performance prediction (Baker et al. 2018) as Tune trial schedulers.

One regressor per number of observed epochs t learns, from trials that ran to `max_t`, to
predict the final value from the first t values of a curve (plus architecture and
hyperparameter features the trials report). A running trial at epoch t is stopped when the
prediction, taken as a Gaussian with the model's cross-validated error as its spread, gives it
less than `threshold` probability of beating the best final value seen so far.

Robust on curve families nobody tuned it to: a curve of any length becomes at most the same
few features, on a time axis relative to `max_t`; predictions are clipped to the finals seen
(and targets may go through a logit or log `link`); `regressor: auto` picks by cross-validated
error; and a `prior` (other families' curve files) warm-starts the fits.
"""

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from ray.tune.schedulers import AsyncHyperBandScheduler, FIFOScheduler, TrialScheduler
from scipy.special import expit, logit
from scipy.stats import norm
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.svm import NuSVR

from rapid.platform.errors import RapidError
from rapid.sweeps.learning_curves import CurveSet, load_curves

logger = logging.getLogger(__name__)

# name -> (regressor, the hyperparameter grid cross-validation picks from). Inputs and target are
# standardized first: perplexities in the hundreds and accuracies in [0, 1] get the same grid.
REGRESSORS = {
    "nu_svr": (lambda: NuSVR(kernel="rbf"), {"C": [1.0, 10.0, 100.0], "gamma": ["scale", 0.01, 0.001]}),
    "random_forest": (lambda: RandomForestRegressor(n_estimators=50, min_samples_leaf=2, random_state=0), {}),
    "linear": (Ridge, {"alpha": [0.1, 1.0, 10.0, 100.0]}),  # regularized: a long curve's many inputs cannot blow it up
}
AUTO = "auto"
# A model is refitted once the finished trials have grown by a quarter since its last fit.
REFIT_GROWTH = 1.25
# Cross-validation folds: they pick the hyperparameters and give the model's error estimate.
FOLDS = 5
# A curve so far becomes this many points, evenly spaced from its first epoch to its last, whatever its length.
POINTS = 10
# Targets bounded in [0, 1] are fitted as logit(clip(y, EPS, 1 - EPS)).
EPS = 1e-3


def curve_features(curve: Sequence[float], points: int | None = None) -> np.ndarray:
    """The paper's curve features: the values so far, their first and second differences, and
    the mean and standard deviation of each of those three. A curve longer than POINTS is first
    resampled to POINTS values (linear interpolation, first and last epoch kept), so 300 epochs
    of 1,000 make as many features as 10 of 20; `points` sets the count (a prior's curves of
    another length are read at the width of the sweep's own)."""
    values = np.asarray(curve, dtype=np.float64)
    count = points or min(len(values), POINTS)
    resampled = np.interp(np.linspace(0, len(values) - 1, count), np.arange(len(values)), values)
    first, second = np.diff(resampled), np.diff(resampled, n=2)
    summaries = [f(x) if x.size else 0.0 for x in (resampled, first, second) for f in (np.mean, np.std)]
    return np.concatenate([resampled, first, second, summaries])


def squash(values: Sequence[float]) -> np.ndarray:
    """sign(x) log(1 + |x|): parameter counts in the millions beside learning rates of 1e-3."""
    x = np.asarray(values, dtype=np.float64)
    return np.sign(x) * np.log1p(np.abs(x))


def target_link(link: str, finals: np.ndarray) -> str:
    """The link a model fits its targets through. `auto`: accuracies in [0, 1] as logits (a cluster
    of diverged runs near 0 and the healthy ones near 1 sit apart), positive values such as
    perplexities as logs, anything else as is."""
    if link != AUTO:
        return link
    if finals.min() >= 0.0 and finals.max() <= 1.0:
        return "logit"
    return "log" if finals.min() > 0.0 else "identity"


LINKS = {
    "logit": (lambda y: logit(np.clip(y, EPS, 1 - EPS)), expit),
    "log": (np.log, np.exp),
    "identity": (None, None),
}


def _standardized(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and spread to standardize by (spread 1 where a column is constant)."""
    spread = values.std(axis=0)
    return values.mean(axis=0), np.where(spread > 0, spread, 1.0)


class LinkedRegressor(RegressorMixin, BaseEstimator):
    """`regressor` on standardized inputs and on targets through their link, standardized. Plain
    numpy around the regressor: a sweep refits thousands of these, and sklearn's pipelines
    would double the time of each."""

    def __init__(self, regressor: Any = None, link: str = "identity") -> None:
        self.regressor, self.link = regressor, link

    def fit(self, x: np.ndarray, y: np.ndarray) -> "LinkedRegressor":
        forward, _ = LINKS[self.link]
        target = forward(y) if forward else y
        self.x_scale_, self.y_scale_ = _standardized(x), _standardized(target)
        (x_mean, x_spread), (y_mean, y_spread) = self.x_scale_, self.y_scale_
        self.model_ = clone(self.regressor).fit((x - x_mean) / x_spread, (target - y_mean) / y_spread)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        (x_mean, x_spread), (y_mean, y_spread) = self.x_scale_, self.y_scale_
        target = self.model_.predict((x - x_mean) / x_spread) * y_spread + y_mean
        _, inverse = LINKS[self.link]
        return inverse(target) if inverse else target


def fit_regressor(name: str, x: np.ndarray, y: np.ndarray, link: str, cv: Any = FOLDS) -> tuple[RegressorMixin, float]:
    """The regressor fitted on (x, y) with cross-validated hyperparameters, and its out-of-fold
    RMSE: how far a prediction is typically off, the spread of the stop rule's Gaussian."""
    make, grid = REGRESSORS[name]
    search = GridSearchCV(
        LinkedRegressor(make(), link), {f"regressor__{k}": v for k, v in grid.items()}, cv=cv,
        scoring="neg_mean_squared_error",
    )  # fmt: skip
    search.fit(x, y)
    return search.best_estimator_, max(math.sqrt(-search.best_score_), 1e-9)


def own_folds(own: int, total: int) -> Any:
    """Cross-validation folds that test on the sweep's own curves only (the first `own` rows), the
    prior's rows always training: the error is the one the sweep's predictions make. With fewer
    own curves than folds, plain folds over all rows."""
    if own < FOLDS:
        return FOLDS
    prior = np.arange(own, total)
    return [(np.concatenate([train, prior]), test) for train, test in KFold(FOLDS).split(np.arange(own))]


def load_prior(prior: str | Sequence[str]) -> list[CurveSet]:
    """A prior's curve files (one path or a list), or a ValueError that names the `prior` option."""
    paths = [prior] if isinstance(prior, str) else list(prior)
    if not paths or not all(isinstance(path, str) for path in paths):
        raise ValueError(f"prior: expected a curve file or a list of them, got {prior!r}")
    try:
        return [load_curves(path) for path in paths]
    except ValueError as err:
        raise ValueError(f"prior: {err}") from None


def check_prior(job: Any, source: str) -> None:
    """A sweep's `scheduler.options.prior` holds curve files of the sweep's own metric and mode:
    a predictor learned on perplexities cannot judge accuracies."""
    prior = job.scheduler.options.get("prior")
    if prior is None:
        return
    try:
        families = load_prior(prior)
    except ValueError as err:
        raise RapidError(f"{source}: scheduler.options.{err}") from None
    for curves in families:
        if (curves.metric, curves.mode) != (job.metric, job.mode):
            raise RapidError(
                f"{source}: scheduler.options.prior: {curves.path} records {curves.metric} ({curves.mode}), but the "
                f"sweep's metric is {job.metric} ({job.mode}); expected curve files of the same metric and mode"
            )


class CurvePredictor:
    """The per-epoch-count regressors and the stop rule, independent of Tune.

    With a `prior` (recorded curve families), their curves train the regressors until `min_finished`
    of this sweep's own trials have finished; from then on as many of them as there are own trials
    (a fixed random subset) train beside them wherever that lowers the cross-validated error on the
    own curves, else the own curves alone. A prior curve of another length is read at
    the same fraction of its epochs."""

    def __init__(
        self,
        max_t: int,
        regressor: str = "nu_svr",
        min_finished: int = 20,
        threshold: float = 0.05,
        prior: Sequence[CurveSet] = (),
        features: Sequence[str] = (),
        link: str = "identity",
    ) -> None:
        if regressor not in (*REGRESSORS, AUTO):
            raise ValueError(f"regressor: expected one of {', '.join((*REGRESSORS, AUTO))}, got {regressor!r}")
        if link not in (*LINKS, AUTO):
            raise ValueError(f"link: expected one of {', '.join((*LINKS, AUTO))}, got {link!r}")
        if max_t < 2:
            raise ValueError(f"max_t: expected at least 2 epochs, got {max_t}")
        if min_finished < FOLDS:
            raise ValueError(
                f"min_finished: expected at least {FOLDS} (the cross-validation folds"
                f"{' that regressor: auto compares its regressors on' if regressor == AUTO else ''}), got {min_finished}"
            )
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold: expected a probability in (0, 1), got {threshold}")
        self.max_t, self.regressor, self.min_finished, self.threshold = max_t, regressor, min_finished, threshold
        self.link = link
        self.finished: list[tuple[np.ndarray, np.ndarray]] = []  # (curve of max_t values, extra features)
        curves = [(c.values[i], squash([c.features[name][i] for name in features])) for c in prior for i in range(len(c))]
        order = np.random.default_rng(0).permutation(len(curves))  # the subset that trains beside own trials
        self.prior = [curves[i] for i in order]
        self.use_extras = True
        self.picked: dict[int, str] = {}  # t -> the regressor its model uses
        self.with_prior: dict[int, bool] = {}  # t -> whether the prior's curves train it
        self._models: dict[int, tuple[RegressorMixin, float, int]] = {}  # t -> (model, error, curves it saw)

    def add_finished(self, curve: Sequence[float], extra: Sequence[float]) -> None:
        self.finished.append((np.asarray(curve[: self.max_t], dtype=np.float64), squash(extra)))

    def drop_extras(self) -> None:
        """Predict from the curves alone from now on: a trial came without the extra features."""
        self.use_extras = False
        self._models.clear()

    def ready(self) -> bool:
        """Enough finished curves to predict from: `min_finished` own ones, or one with a prior
        (the best final so far must be this sweep's own)."""
        return len(self.finished) >= (1 if self.prior else self.min_finished)

    def best_final(self, mode: str) -> float:
        finals = [c[-1] for c, _ in self.finished]
        return (max if mode == "max" else min)(finals) if finals else math.nan

    def _pools(self) -> dict[bool, list[tuple[np.ndarray, np.ndarray]]]:
        """The finished curves a model may learn from now, by whether the prior's are among them:
        the prior alone carries the fit until min_finished own curves, then it must earn its place."""
        own = len(self.finished)
        pools = {False: self.finished} if own >= self.min_finished else {}
        if self.prior:
            pools[True] = self.finished + (self.prior if own < self.min_finished else self.prior[:own])
        return pools

    def _row(self, seen: np.ndarray, extra: np.ndarray, t: int) -> np.ndarray:
        """The input of the model for t observed epochs."""
        return np.concatenate([curve_features(seen, min(t, POINTS)), extra if self.use_extras else np.empty(0)])

    def _model(self, t: int) -> tuple[RegressorMixin, float, bool]:
        """The model for t observed epochs, refitted as the finished set grows: of the regressors
        (one, or all three for `auto`) and the pools, the lowest cross-validated error on own curves."""
        n = len(self.finished)
        fitted = self._models.get(t)
        if fitted is None or n >= fitted[2] * REFIT_GROWTH:
            names = list(REGRESSORS) if self.regressor == AUTO else [self.regressor]
            fits = []
            for with_prior, curves in self._pools().items():
                # A finished curve read as far as t of max_t epochs (a prior's: the same fraction of its own).
                x = np.stack([self._row(c[: max(1, round(len(c) * t / self.max_t))], e, t) for c, e in curves])
                y = np.array([c[-1] for c, _ in curves])
                cv = own_folds(n, len(curves))
                fits += [(*fit_regressor(name, x, y, target_link(self.link, y), cv), name, with_prior) for name in names]
            model, error, name, with_prior = min(fits, key=lambda fit: fit[1])
            if len(fits) > 1 and (self.picked.get(t), self.with_prior.get(t)) != (name, with_prior):
                logger.info(
                    "performance prediction after %d of %d epochs: %s%s has the lowest CV error (%.4g)",
                    t, self.max_t, name, " with the prior" if with_prior else "", error,
                )  # fmt: skip
            self.picked[t], self.with_prior[t] = name, with_prior
            fitted = (model, error, n)
            self._models[t] = fitted
        return fitted[0], fitted[1], self.with_prior[t]

    def predict(self, curve: Sequence[float], extra: Sequence[float]) -> tuple[float, float]:
        """Predicted final value and its estimated error for a partial curve."""
        model, error, with_prior = self._model(len(curve))
        x = self._row(np.asarray(curve, dtype=np.float64), squash(extra), len(curve))[None]
        # Within the finals known now, which a model fitted some trials ago may not have seen (else a
        # new best could never be predicted to beat the old one); its CV error is the unclipped one's.
        finals = [c[-1] for c, _ in self._pools()[with_prior]]
        return float(np.clip(model.predict(x)[0], min(finals), max(finals))), error

    def chance_to_beat_best(self, curve: Sequence[float], extra: Sequence[float], mode: str) -> float | None:
        """P(final beats the best final so far), or None while too few trials have finished."""
        if not self.ready() or not 0 < len(curve) < self.max_t:
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

    def _init_prediction(
        self, time_attr: str, features: Sequence[str], max_t: int, regressor: str, min_finished: int,
        threshold: float, prior: str | Sequence[str] | None, check_every: int | None, link: str,
    ) -> None:  # fmt: skip
        """The predictor; with a prior, only the features every one of its curve files has are used."""
        families = load_prior(prior) if prior is not None else []
        features = [name for name in features if all(name in curves.features for curves in families)]
        if check_every is not None and check_every < 1:
            raise ValueError(f"check_every: expected a number of epochs >= 1, got {check_every}")
        self.time_attr, self.features = time_attr, tuple(features)
        self.predictor = CurvePredictor(max_t, regressor, min_finished, threshold, families, self.features, link)
        self.check_every = check_every or max(1, max_t // 20)
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
        if curve and self._checks(len(curve)) and self.predictor.hopeless(curve, self._extra(trial.trial_id), self._mode):
            self.stopped_by_prediction += 1
            return True
        return False

    def _checks(self, epochs: int) -> bool:
        """The prediction judges a trial after its first epoch (runs dead from the start) and every
        `check_every` epochs: one model per epoch count it predicts from, about 20 for a long curve."""
        return epochs == 1 or epochs % self.check_every == 0

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
        prior: str | list[str] | None = None,
        check_every: int | None = None,
        link: str = "identity",
        metric: str | None = None,
        mode: str | None = None,
    ) -> None:
        FIFOScheduler.__init__(self)
        self._metric, self._mode = metric, mode
        self._init_prediction(time_attr, features, max_t, regressor, min_finished, threshold, prior, check_every, link)

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
        prior: str | list[str] | None = None,
        check_every: int | None = None,
        link: str = "identity",
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
        self._init_prediction(time_attr, features, max_t, regressor, min_finished, threshold, prior, check_every, link)

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        if self._prediction_says_stop(trial, result):
            return TrialScheduler.STOP  # Tune then calls on_trial_complete, which forgets the trial
        return AsyncHyperBandScheduler.on_trial_result(self, tune_controller, trial, result)

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> None:
        self._record_finished(trial, result)
        AsyncHyperBandScheduler.on_trial_complete(self, tune_controller, trial, result)

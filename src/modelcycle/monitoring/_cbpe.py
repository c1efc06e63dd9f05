"""Confidence-based performance estimation (CBPE): a classifier's metrics without labels.

When a classifier's probabilities are calibrated, each served row is a coin with a
known bias: the probability the model gave its class. Expected true and false
positives are then sums of probabilities, and so is every metric built on them —
ROC AUC, accuracy, F1 — on any window of unlabelled rows, as long as the relation
between inputs and target has not changed (covariate shift only). This is the method
of NannyML's CBPE. Calibration is learned on the version's labelled holdout with
isotonic regression (one-vs-rest, renormalised for more than two classes), and only
kept when it lowers the cross-validated calibration error and Brier score there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import StratifiedKFold

from modelcycle.core import Task, ValidationError
from modelcycle.evaluation import METRIC_TABLE
from modelcycle.monitoring._logread import probability_matrix
from modelcycle.monitoring._performance import buckets, performance_frame

if TYPE_CHECKING:
    from modelcycle.monitoring._reference import VersionReference

FloatArray = NDArray[np.float64]
#: Metrics :meth:`CBPE.estimate` knows (``f1`` is macro-averaged for more than two classes).
ESTIMABLE = tuple(spec.name for spec in METRIC_TABLE.values() if spec.estimable)
_BINS = 10


class CBPE:
    """Estimate a classifier's performance on unlabelled rows from its probabilities.

    Parameters
    ----------
    calibration:
        ``"auto"`` (default): calibrate with isotonic regression when that lowers both
        the expected calibration error (ECE) and the Brier score on the reference,
        cross-validated (so a calibrated model is left alone rather than fitted to noise);
        ``True``/``False``: always/never.
    n_folds:
        Folds of the cross-validation that decides ``"auto"``.
    random_state:
        Seed of the folds.

    Attributes
    ----------
    n_classes_ : int
    calibrated_ : bool
        Whether calibration is applied.
    calibration_scores_ : dict
        ``ece_raw``, ``ece_calibrated``, ``brier_raw``, ``brier_calibrated`` on the
        reference (the calibrated ones cross-validated).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(size=4000)
    >>> y = (rng.uniform(size=4000) < p).astype(int)
    >>> cbpe = CBPE().fit(y, p)
    >>> estimate = cbpe.estimate(rng.uniform(size=4000), metrics=["accuracy"])["accuracy"]
    >>> bool(abs(estimate - 0.75) < 0.02)  # the expected accuracy of uniform scores
    True
    """

    def __init__(
        self,
        *,
        calibration: bool | Literal["auto"] = "auto",
        n_folds: int = 5,
        random_state: int = 0,
    ) -> None:
        self.calibration = calibration
        self.n_folds = n_folds
        self.random_state = random_state

    def fit(self, y: ArrayLike, proba: ArrayLike) -> CBPE:
        """Learn the calibration from labelled reference rows.

        Parameters
        ----------
        y:
            True class codes ``0..k-1``.
        proba:
            Positive-class probabilities ``(n,)`` or class probabilities ``(n, k)``.
        """
        matrix = _matrix(proba)
        codes = np.asarray(y)
        if codes.shape != (matrix.shape[0],) or not len(codes):
            raise ValidationError(
                f"y has shape {codes.shape} but proba has {matrix.shape[0]} rows; "
                "pass one class code per row"
            )
        k = matrix.shape[1]
        if len(np.unique(codes)) < 2 or not np.isin(codes, np.arange(k)).all():
            raise ValidationError(
                f"the reference needs class codes in 0..{k - 1} with at least two classes; "
                f"got {sorted(set(codes.tolist()))[:10]}"
            )
        truth = codes[:, None] == np.arange(k)
        self.n_classes_ = k
        self.calibrators_ = _fit_calibrators(matrix, truth)
        folded = self._cross_fitted(matrix, codes, truth)
        self.calibration_scores_ = {
            "ece_raw": _ece(matrix, truth),
            "ece_calibrated": _ece(folded, truth),
            "brier_raw": _brier(matrix, truth),
            "brier_calibrated": _brier(folded, truth),
        }
        scores = self.calibration_scores_
        auto = (
            scores["ece_calibrated"] < scores["ece_raw"]
            and scores["brier_calibrated"] < scores["brier_raw"]
        )
        self.calibrated_ = auto if self.calibration == "auto" else bool(self.calibration)
        return self

    def calibrate(self, proba: ArrayLike) -> FloatArray:
        """Calibrated class probabilities ``(n, k)`` (unchanged when calibration is off)."""
        matrix = self._checked(proba)
        return _apply(self.calibrators_, matrix) if self.calibrated_ else matrix

    def estimate(
        self, proba: ArrayLike, metrics: Sequence[str] = ("roc_auc", "accuracy", "f1")
    ) -> dict[str, float]:
        """Estimated metrics of rows with these probabilities (NaN for no rows or one class).

        The model's decision is the most probable class (threshold 0.5 for two
        classes). ROC AUC: rows are ranked by the model's score; at each threshold the
        expected true and false positives are the cumulative sums of the calibrated
        probability ``p`` and of ``1 - p``; the estimate is the trapezoidal area under
        that expected curve (macro one-vs-rest for more classes). Accuracy is the mean
        calibrated probability of the predicted class; F1, precision and recall come
        from the expected true and false positives and false negatives.
        """
        unknown = sorted(set(metrics) - set(ESTIMABLE))
        if unknown:
            raise ValidationError(f"CBPE cannot estimate {unknown}; it estimates {list(ESTIMABLE)}")
        raw = self._checked(proba)
        if not len(raw):
            return {name: math.nan for name in metrics}
        calibrated = _apply(self.calibrators_, raw) if self.calibrated_ else raw
        predicted = raw.argmax(axis=1)
        return {name: _estimate(name, raw, calibrated, predicted) for name in metrics}

    @classmethod
    def from_reference(
        cls,
        reference: VersionReference,
        *,
        calibration: bool | Literal["auto"] = "auto",
        random_state: int = 0,
    ) -> CBPE | None:
        """A CBPE fitted on a version's holdout predictions; ``None`` when it has none.

        Regression models, versions without ``holdout_predictions.parquet`` (models
        logged by users) and holdouts with one class give ``None``.
        """
        holdout = reference.holdout
        if holdout is None or reference.task is Task.REGRESSION or not len(holdout):
            return None
        columns = sorted(
            (c for c in holdout.columns if c.startswith("proba_")), key=lambda c: int(c[6:])
        )
        if len(columns) < 2:
            return None
        try:
            return cls(calibration=calibration, random_state=random_state).fit(
                holdout["y"].to_numpy(dtype=int), holdout[columns].to_numpy(dtype=float)
            )
        except ValidationError:
            return None

    def _checked(self, proba: ArrayLike) -> FloatArray:
        if not hasattr(self, "calibrators_"):
            raise ValidationError("this CBPE is not fitted; call fit(y, proba) on reference data")
        matrix = _matrix(proba)
        if matrix.shape[1] != self.n_classes_:
            raise ValidationError(
                f"proba has {matrix.shape[1]} classes; this CBPE was fitted on {self.n_classes_}"
            )
        return matrix

    def _cross_fitted(self, matrix: FloatArray, codes: np.ndarray, truth: np.ndarray) -> FloatArray:
        """Calibrated probabilities of each reference row from calibrators fitted without it."""
        folds = min(self.n_folds, int(np.bincount(codes, minlength=matrix.shape[1]).min()))
        folded = np.array(matrix)
        if folds < 2:
            return folded
        splitter = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
        for train, test in splitter.split(matrix, codes):
            folded[test] = _apply(_fit_calibrators(matrix[train], truth[train]), matrix[test])
        return folded


def estimated_performance(
    window: pd.DataFrame,
    cbpe: CBPE | Mapping[int, CBPE],
    *,
    bucket_rows: int | None = None,
    freq: str | None = None,
    metric: str = "roc_auc",
) -> pd.DataFrame:
    """Estimated metric per version over time, from a :func:`read_predictions` frame.

    Parameters
    ----------
    window:
        Logged predictions with ``probabilities``; rows without them are skipped.
    cbpe:
        A fitted :class:`CBPE`, or one per version (versions without one are skipped).
    bucket_rows, freq:
        As in :func:`realized_performance`.
    metric:
        One of :data:`ESTIMABLE`.

    Returns
    -------
    pandas.DataFrame
        ``version, start, end, rows, metric, value``, like :func:`realized_performance`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(size=2000)
    >>> cbpe = CBPE().fit((rng.uniform(size=2000) < p).astype(int), p)
    >>> window = pd.DataFrame({"version": 1, "time": pd.date_range("2025-01-01", periods=100,
    ...     freq="min", tz="UTC"), "probabilities": [[1 - q, q] for q in p[:100]]})
    >>> estimated_performance(window, cbpe, metric="accuracy", bucket_rows=50)["rows"].tolist()
    [50, 50]
    """
    estimators = cbpe if isinstance(cbpe, Mapping) else None
    have = window["probabilities"].notna().to_numpy() if len(window) else np.zeros(0, bool)
    if estimators is not None:
        known = window["version"].isin(list(estimators)).to_numpy()
        have = have & known
    frame = window[have].reset_index(drop=True)
    rows = []
    for version, start, end, positions in buckets(frame, bucket_rows, freq):
        chosen = estimators[version] if estimators is not None else cbpe
        assert isinstance(chosen, CBPE)
        proba = probability_matrix(frame["probabilities"].iloc[positions], chosen.n_classes_)
        value = chosen.estimate(proba, metrics=[metric])[metric]
        rows.append((version, start, end, len(positions), metric, value))
    return performance_frame(rows)


# -- the estimators -------------------------------------------------------------------


def _estimate(name: str, raw: FloatArray, calibrated: FloatArray, predicted: np.ndarray) -> float:
    k = raw.shape[1]
    if name == "roc_auc":
        if k == 2:
            return expected_auc(raw[:, 1], calibrated[:, 1])
        return float(np.mean([expected_auc(raw[:, c], calibrated[:, c]) for c in range(k)]))
    if name == "accuracy":
        return float(calibrated[np.arange(len(raw)), predicted].mean())
    if name == "log_loss":  # the loss of the model's probability, weighted by the true one
        return float(-(calibrated * np.log(np.clip(raw, 1e-15, 1.0))).sum(axis=1).mean())
    if name == "brier":  # E[(p - y)^2] = q (p - 1)^2 + (1 - q) p^2, q the true probability
        p, q = raw[:, 1], calibrated[:, 1]
        return float((q * (p - 1.0) ** 2 + (1.0 - q) * p**2).mean())
    classes = [1] if k == 2 and name != "f1_macro" else list(range(k))
    values = []
    for c in classes:
        chosen = predicted == c
        tp = float(calibrated[chosen, c].sum())
        fp = float((1.0 - calibrated[chosen, c]).sum())
        fn = float(calibrated[~chosen, c].sum())
        values.append(_from_counts(name, tp, fp, fn))
    return float(np.mean(values))


def _from_counts(name: str, tp: float, fp: float, fn: float) -> float:
    """Precision, recall or F1 from expected counts (0 when undefined, as scikit-learn)."""
    numerator, denominator = {"precision": (tp, tp + fp), "recall": (tp, tp + fn)}.get(
        name, (2.0 * tp, 2.0 * tp + fp + fn)
    )
    return numerator / denominator if denominator > 0 else 0.0


def expected_auc(score: FloatArray, p: FloatArray) -> float:
    """Expected ROC AUC of rows ranked by ``score`` whose positive probability is ``p``.

    Examples
    --------
    >>> expected_auc(np.array([0.9, 0.1]), np.array([1.0, 0.0]))
    1.0
    >>> expected_auc(np.array([0.9, 0.8, 0.1]), np.array([0.5, 0.5, 0.5]))
    0.5
    """
    order = np.argsort(-score, kind="stable")
    ranked, weights = score[order], p[order]
    tp, fp = np.cumsum(weights), np.cumsum(1.0 - weights)
    if tp[-1] <= 0 or fp[-1] <= 0:
        return math.nan
    last = np.r_[ranked[1:] != ranked[:-1], True]  # one point per distinct score
    tpr = np.r_[0.0, tp[last] / tp[-1]]
    fpr = np.r_[0.0, fp[last] / fp[-1]]
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))


# -- calibration ----------------------------------------------------------------------


def _matrix(proba: ArrayLike) -> FloatArray:
    matrix = np.asarray(proba, dtype=np.float64)
    if matrix.ndim == 1:
        matrix = np.column_stack([1.0 - matrix, matrix])
    if matrix.ndim != 2 or matrix.shape[1] < 2:
        raise ValidationError(
            f"proba must be positive-class probabilities (n,) or class probabilities (n, k); "
            f"got shape {matrix.shape}"
        )
    if not np.isfinite(matrix).all():
        raise ValidationError("proba holds missing or infinite values; drop those rows first")
    return matrix


def _fit_calibrators(matrix: FloatArray, truth: np.ndarray) -> list[IsotonicRegression]:
    columns = [1] if matrix.shape[1] == 2 else range(matrix.shape[1])
    return [
        IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(
            matrix[:, c], truth[:, c].astype(float)
        )
        for c in columns
    ]


def _apply(calibrators: list[IsotonicRegression], matrix: FloatArray) -> FloatArray:
    if len(calibrators) == 1:
        positive = np.clip(calibrators[0].predict(matrix[:, 1]), 0.0, 1.0)
        return np.column_stack([1.0 - positive, positive])
    columns = np.column_stack([c.predict(matrix[:, i]) for i, c in enumerate(calibrators)])
    totals = columns.sum(axis=1, keepdims=True)
    safe = totals[:, 0] > 0
    out = np.array(matrix)
    out[safe] = columns[safe] / totals[safe]
    return out


def _ece(matrix: FloatArray, truth: np.ndarray) -> float:
    """Class-wise expected calibration error over equal-width bins (positive class for two)."""
    columns = [1] if matrix.shape[1] == 2 else range(matrix.shape[1])
    errors = []
    for c in columns:
        p, hit = matrix[:, c], truth[:, c].astype(float)
        bins = np.minimum((p * _BINS).astype(int), _BINS - 1)
        count = np.bincount(bins, minlength=_BINS)
        gap = np.abs(np.bincount(bins, hit, _BINS) - np.bincount(bins, p, _BINS))
        errors.append(float(gap.sum() / max(count.sum(), 1)))
    return float(np.mean(errors))


def _brier(matrix: FloatArray, truth: np.ndarray) -> float:
    """Brier score (of the positive class for two classes, as scikit-learn's)."""
    if matrix.shape[1] == 2:
        return float(np.mean((matrix[:, 1] - truth[:, 1]) ** 2))
    return float(np.mean(np.sum((matrix - truth) ** 2, axis=1)))

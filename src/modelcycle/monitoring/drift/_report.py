"""The drift report: every column of a window against the reference profile, and a verdict.

Per column, the detectors of its kind run (numeric: PSI, KS, Wasserstein, missing
rate; categorical: chi-square, Jensen–Shannon, new-category rate, missing rate). The
column's tests are combined into one p-value (Bonferroni within the column: the
smallest p-value times the number of tests), and those p-values — one per column, plus
the prediction's — are adjusted together (Benjamini–Hochberg by default, or
Bonferroni). A column is *significant* when its adjusted p-value is below ``alpha``,
and *drifted* when it is significant or one of its distances (PSI, Jensen–Shannon,
Wasserstein, new-category rate) is over its threshold. The dataset has drifted when
any column has.

With no drift at all, the chance that the tests flag anything is at most ``alpha``
(BH under the global null, or Bonferroni). The distances are effect sizes and take no
part in that control: on windows of a few hundred rows or more their sampling noise is
far below their thresholds, but on tiny windows it is not (PSI's noise is about
``bins / rows``), so judge windows under ~500 rows by the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelcycle.core import ValidationError
from modelcycle.data import ColumnProfile, Profile
from modelcycle.monitoring.drift._base import (
    DriftDetector,
    DriftResult,
    Kind,
    column_kind,
    profile_values,
)
from modelcycle.monitoring.drift._chi_square import ChiSquareDetector
from modelcycle.monitoring.drift._jensen_shannon import JensenShannonDetector
from modelcycle.monitoring.drift._ks import KSDetector
from modelcycle.monitoring.drift._missing_rate import MissingRateDetector
from modelcycle.monitoring.drift._multiple_testing import METHODS, Method, adjust_pvalues
from modelcycle.monitoring.drift._new_category import NewCategoryDetector
from modelcycle.monitoring.drift._psi import PSIDetector
from modelcycle.monitoring.drift._table import window_columns
from modelcycle.monitoring.drift._wasserstein import WassersteinDetector
from modelcycle.monitoring.drift._window import ColumnWindow


@dataclass(frozen=True, slots=True)
class ColumnDrift:
    """The drift of one column (or of the predictions).

    Attributes
    ----------
    name, kind:
        The column and whether it was compared as numeric or categorical.
    rows, missing:
        Window rows and how many of them were missing.
    results:
        One :class:`DriftResult` per detector.
    pvalue:
        The column's tests combined (Bonferroni within the column).
    adjusted_pvalue:
        ``pvalue`` adjusted across all the report's columns.
    significant:
        ``adjusted_pvalue < alpha``.
    exceeded:
        Names of the distances over their thresholds.
    """

    name: str
    kind: Kind
    rows: int
    missing: int
    results: tuple[DriftResult, ...]
    pvalue: float
    adjusted_pvalue: float = 1.0
    significant: bool = False
    exceeded: tuple[str, ...] = ()

    @property
    def drifted(self) -> bool:
        """Significant after correction, or a distance over its threshold."""
        return self.significant or bool(self.exceeded)

    def __getitem__(self, detector: str) -> DriftResult:
        for result in self.results:
            if result.detector == detector:
                return result
        raise KeyError(detector)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "name": self.name,
            "kind": self.kind,
            "rows": self.rows,
            "missing": self.missing,
            "drifted": self.drifted,
            "significant": self.significant,
            "exceeded": list(self.exceeded),
            "pvalue": self.pvalue,
            "adjusted_pvalue": self.adjusted_pvalue,
            "results": {r.detector: r.to_dict() for r in self.results},
        }


@dataclass(frozen=True, slots=True)
class DriftReport:
    """Drift of a window against a reference profile, per column and for the dataset.

    ``skipped`` names the columns not compared and why (absent from the window, a
    kind without a drift test such as dates or text, or no reference values).
    """

    rows: int
    alpha: float
    method: Method
    columns: tuple[ColumnDrift, ...]
    prediction: ColumnDrift | None = None
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def drifted(self) -> bool:
        """Whether any column, or the prediction, has drifted."""
        return bool(self.drifted_columns) or bool(self.prediction and self.prediction.drifted)

    @property
    def drifted_columns(self) -> list[str]:
        """Names of the drifted feature columns, in profile order."""
        return [column.name for column in self.columns if column.drifted]

    @property
    def drifted_share(self) -> float:
        """Share of the compared feature columns that drifted."""
        return len(self.drifted_columns) / len(self.columns) if self.columns else 0.0

    def __getitem__(self, name: str) -> ColumnDrift:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (no NaN or infinity)."""
        return {
            "rows": self.rows,
            "alpha": self.alpha,
            "method": self.method,
            "drifted": self.drifted,
            "drifted_columns": self.drifted_columns,
            "drifted_share": self.drifted_share,
            "columns": [column.to_dict() for column in self.columns],
            "prediction": self.prediction.to_dict() if self.prediction else None,
            "skipped": dict(self.skipped),
        }


def default_detectors(kind: Kind) -> list[DriftDetector]:
    """Fresh, unfitted detectors for a column of ``kind``, with their default thresholds."""
    if kind == "numeric":
        return [PSIDetector(), KSDetector(), WassersteinDetector(), MissingRateDetector()]
    return [
        ChiSquareDetector(),
        JensenShannonDetector(),
        NewCategoryDetector(),
        MissingRateDetector(),
    ]


def drift_report(
    profile: Profile,
    window: Any,
    *,
    alpha: float = 0.05,
    method: Method = "bh",
    prediction: str = "prediction",
    prediction_reference: ColumnProfile | Any | None = None,
) -> DriftReport:
    """Compare a window of rows with a reference profile, column by column.

    Parameters
    ----------
    profile:
        The reference: the training profile a model version carries.
    window:
        The rows to check: a pandas DataFrame, a pyarrow Table or a dict of arrays.
        Its columns are matched to the profile's by name; extra columns are ignored.
    alpha:
        Significance level of the tests, after the multiple-testing correction.
    method:
        ``"bh"`` (Benjamini–Hochberg) or ``"bonferroni"``.
    prediction:
        Name of the window's prediction column.
    prediction_reference:
        The reference distribution of predictions (a profiled column, or the
        predictions on validation data); without it there is no prediction drift.

    Returns
    -------
    DriftReport

    Examples
    --------
    >>> import pandas as pd
    >>> from modelcycle.data import Profile, infer_schema
    >>> train = pd.DataFrame({"x": [float(i % 10) for i in range(1000)]})
    >>> report = drift_report(Profile.from_frame(train, infer_schema(train)), train)
    >>> report.drifted, round(report["x"]["psi"].statistic, 6)
    (False, 0.0)
    """
    _check_arguments(profile, alpha, method)
    columns = window_columns(window)
    rows = next(iter(columns.values())).rows if columns else 0
    if rows == 0:
        raise ValidationError("the window has no rows; expected at least one row to compare")
    skipped: dict[str, str] = {}
    compared = [
        drift
        for column in profile.columns
        if column.name != profile.target
        and (drift := _compare(column, columns.get(column.name), skipped)) is not None
    ]
    predicted = _prediction(columns, prediction, prediction_reference, skipped)
    everything = compared + ([predicted] if predicted else [])
    adjusted = adjust_pvalues([c.pvalue for c in everything], method=method)
    final = [_settle(c, float(p), alpha) for c, p in zip(everything, adjusted, strict=True)]
    return DriftReport(
        rows=rows,
        alpha=alpha,
        method=method,
        columns=tuple(final[: len(compared)]),
        prediction=final[-1] if predicted else None,
        skipped=skipped,
    )


def _check_arguments(profile: Profile, alpha: float, method: str) -> None:
    if not isinstance(profile, Profile):
        raise ValidationError(
            f"expected a modelcycle Profile as reference; got a {type(profile).__name__}"
        )
    if isinstance(alpha, bool) or not isinstance(alpha, float | int) or not 0 < alpha < 1:
        raise ValidationError(f"alpha is {alpha!r}; expected a number in (0, 1)")
    if method not in METHODS:
        raise ValidationError(f"method is {method!r}; expected one of {list(METHODS)}")


def _compare(
    reference: ColumnProfile, window: ColumnWindow | None, skipped: dict[str, str]
) -> ColumnDrift | None:
    if window is None:
        skipped[reference.name] = "absent from the window"
        return None
    try:
        kind = column_kind(reference)
    except ValidationError:
        skipped[reference.name] = (
            f"{reference.kind.value} column without numeric or category statistics"
        )
        return None
    return compare_column(reference, window, kind)


def compare_column(reference: ColumnProfile, window: ColumnWindow, kind: Kind) -> ColumnDrift:
    """Run the default detectors of ``kind`` on one column (before any correction)."""
    results = tuple(d.fit(reference).detect(window) for d in default_detectors(kind))
    pvalues = [r.pvalue for r in results if r.pvalue is not None]
    combined = min(1.0, min(pvalues) * len(pvalues)) if pvalues else 1.0
    exceeded = tuple(r.detector for r in results if r.pvalue is None and r.drifted)
    return ColumnDrift(
        reference.name, kind, window.rows, window.missing, results, combined, exceeded=exceeded
    )


def _prediction(
    columns: dict[str, ColumnWindow], name: str, reference: Any, skipped: dict[str, str]
) -> ColumnDrift | None:
    if reference is None:
        if name in columns:
            skipped[name] = "no prediction_reference to compare the predictions with"
        return None
    if name not in columns:
        raise ValidationError(
            f"prediction_reference was given but the window has no {name!r} column; "
            f"expected one of {sorted(columns)} to be named by prediction=",
            details={"column": name},
        )
    if not isinstance(reference, ColumnProfile):
        reference = profile_values(ColumnWindow.of(reference), name)
    return compare_column(reference, columns[name], column_kind(reference))


def _settle(column: ColumnDrift, adjusted: float, alpha: float) -> ColumnDrift:
    return ColumnDrift(
        column.name,
        column.kind,
        column.rows,
        column.missing,
        column.results,
        column.pvalue,
        adjusted_pvalue=float(np.clip(adjusted, 0.0, 1.0)),
        significant=adjusted < alpha,
        exceeded=column.exceeded,
    )

"""Error analysis: the data slices where the model does worst.

A slice is a range of one numeric feature (a quantile bin, or a tail: all rows
up to or from a bin) or one category of a categorical feature, or the rows where
a feature is missing. Slices are ranked by ``size × (slice error − overall error)``:
the number of extra errors the slice accounts for, so a large, moderately bad
slice outranks a tiny, terrible one.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from modelcycle.core import ColumnKind, Schema, Task, ValidationError
from modelcycle.evaluation._inputs import FloatArray, IntArray, float_vector, prepare_output
from modelcycle.evaluation._metrics import binary_log_losses, multiclass_log_losses
from modelcycle.evaluation._serial import jsonable

_NUMERIC_KINDS = {ColumnKind.NUMERIC, ColumnKind.INTEGER}
_CATEGORY_KINDS = {ColumnKind.CATEGORICAL, ColumnKind.BOOLEAN}


@dataclass(frozen=True, slots=True)
class Slice:
    """Rows sharing one feature range or category, and how wrong the model is on them.

    ``kind`` is ``"range"`` (``lower``/``upper`` are the smallest and largest value
    in the slice), ``"category"`` (``category`` is the value) or ``"missing"``.
    """

    feature: str
    kind: str
    description: str
    size: int
    error: float
    overall_error: float
    lower: float | None = None
    upper: float | None = None
    category: str | None = None

    @property
    def excess(self) -> float:
        """How much worse than overall the slice is, per row."""
        return self.error - self.overall_error

    @property
    def impact(self) -> float:
        """``size × excess``: the extra error the slice accounts for (the ranking key)."""
        return self.size * self.excess

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (with ``excess`` and ``impact``)."""
        return dict(jsonable({**jsonable(self), "excess": self.excess, "impact": self.impact}))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Slice:
        """Build a slice from :meth:`to_dict` output."""
        optional = {k: data.get(k) for k in ("lower", "upper", "category")}
        return cls(
            feature=str(data["feature"]),
            kind=str(data["kind"]),
            description=str(data["description"]),
            size=int(data["size"]),
            error=float(data["error"]),
            overall_error=float(data["overall_error"]),
            **optional,
        )


#: A slice and, for a numeric range, the span of quantile bins it covers.
Candidate = tuple[Slice, tuple[int, int] | None]


def row_errors(
    task: Task | str, y_true: ArrayLike, proba_or_pred: ArrayLike, *, loss: str = "auto"
) -> FloatArray:
    """Return one error per row, for :func:`worst_slices`.

    Parameters
    ----------
    loss:
        ``"misclassification"`` (0/1; the ``"auto"`` choice for classification),
        ``"log_loss"`` (classification), ``"absolute"`` (the ``"auto"`` choice for
        regression) or ``"squared"``.

    Examples
    --------
    >>> row_errors("binary", [0, 1, 1], [0.2, 0.4, 0.9]).tolist()
    [0.0, 1.0, 0.0]
    >>> row_errors("regression", [1.0, 2.0], [1.5, 1.0]).tolist()
    [0.5, 1.0]
    """
    outcome = prepare_output(task, y_true, proba_or_pred)
    regression = outcome.task is Task.REGRESSION
    chosen = ("absolute" if regression else "misclassification") if loss == "auto" else loss
    allowed = ("absolute", "squared") if regression else ("misclassification", "log_loss")
    if chosen not in allowed:
        raise ValidationError(
            f"loss {loss!r} does not apply to a {outcome.task.value} task; use one of {allowed}"
        )
    if chosen == "misclassification":
        return np.asarray(outcome.y != outcome.pred, dtype=np.float64)
    if chosen == "log_loss":
        assert outcome.proba is not None
        if outcome.task is Task.BINARY:
            return binary_log_losses(outcome.y, outcome.proba)
        truth = (outcome.y[:, None] == np.arange(outcome.n_classes)).astype(np.float64)
        return multiclass_log_losses(truth, outcome.proba)
    residual = outcome.y - outcome.pred
    return np.abs(residual) if chosen == "absolute" else residual**2


def worst_slices(
    frame_or_columns: pd.DataFrame | Mapping[str, ArrayLike],
    errors: ArrayLike,
    *,
    schema: Schema | None = None,
    min_size: int = 20,
    n_bins: int = 5,
    max_categories: int = 10,
    top_k: int = 10,
) -> list[Slice]:
    """Find the slices of the data where the per-row error is highest, weighted by size.

    Parameters
    ----------
    frame_or_columns:
        The holdout features (raw, human-readable values), one row per error.
    errors:
        Per-row errors, e.g. from :func:`row_errors`.
    schema:
        Column kinds; numeric and integer columns are binned, categorical and
        boolean ones split by value, others skipped. Without it kinds follow dtypes.
    min_size:
        Smallest slice reported, in rows.
    n_bins:
        Quantile bins per numeric feature; a numeric feature with at most this many
        distinct values is split by value instead.
    max_categories:
        Most frequent values of a categorical feature considered.
    top_k:
        Number of slices returned.

    Returns
    -------
    list of Slice
        Slices worse than overall, largest ``impact`` first. Range slices of one
        feature in the list do not overlap.

    Examples
    --------
    >>> frame = pd.DataFrame({"age": np.arange(100.0), "plan": ["a", "b"] * 50})
    >>> errors = (frame["age"] >= 70).astype(float)
    >>> worst = worst_slices(frame, errors, n_bins=10, top_k=1)[0]
    >>> worst.description, worst.size, worst.error, round(worst.impact, 2)
    ('age >= 70', 30, 1.0, 21.0)
    """
    if min(min_size, n_bins, max_categories, top_k) < 1:
        raise ValidationError(
            "min_size, n_bins, max_categories and top_k must be at least 1; got "
            f"{min_size}, {n_bins}, {max_categories}, {top_k}"
        )
    frame = pd.DataFrame(frame_or_columns)
    values = float_vector(errors, "errors", len(frame), against="the frame")
    if values.size == 0:
        return []
    candidates: list[Candidate] = []
    for key, kind in _feature_kinds(frame, schema):
        name, column = str(key), frame[key]
        found = _numeric(name, column, values, n_bins) if kind == "numeric" else None
        if found is None:
            found = _categorical(name, column, values, max_categories)
        candidates.extend(found)
    overall = float(values.mean())
    useful = [c for c in candidates if min_size <= c[0].size < values.size and c[0].error > overall]
    return _select(useful, top_k)


def _feature_kinds(frame: pd.DataFrame, schema: Schema | None) -> Iterator[tuple[Hashable, str]]:
    """Columns to slice and how: ``"numeric"`` (binned) or ``"category"`` (by value)."""
    if schema is not None:
        for column in schema.features:
            if column.name in frame.columns and column.kind in _NUMERIC_KINDS:
                yield column.name, "numeric"
            elif column.name in frame.columns and column.kind in _CATEGORY_KINDS:
                yield column.name, "category"
        return
    for name in frame.columns:
        series = frame[name]
        if pd.api.types.is_bool_dtype(series):
            yield name, "category"
        elif pd.api.types.is_numeric_dtype(series):
            yield name, "numeric"
        elif not pd.api.types.is_datetime64_any_dtype(series) and _looks_categorical(series):
            yield name, "category"


def _looks_categorical(series: pd.Series[Any]) -> bool:
    """A text column whose values mostly repeat (not free text or identifiers)."""
    return int(series.nunique()) <= max(2, len(series) // 2)


def _numeric(
    name: str, column: pd.Series[Any], errors: FloatArray, n_bins: int
) -> list[Candidate] | None:
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
    missing = np.isnan(values)
    present = values[~missing]
    if np.unique(present).size <= n_bins:
        return None  # few values: split by value instead
    levels = np.linspace(0.0, 1.0, n_bins + 1)
    edges = np.unique(np.quantile(present, levels, method="higher"))  # observed: no empty bin
    bins = np.searchsorted(edges[1:-1], values, side="right")
    integral = bool(np.all(present == np.round(present)))
    last = len(edges) - 2
    found = [
        _range_slice(name, values, bins, errors, span, last, integral) for span in _spans(last)
    ]
    return found + _missing_slice(name, missing, errors)


def _spans(last: int) -> list[tuple[int, int]]:
    """Contiguous ranges of bins ``0..last`` that are one bin or a tail (not all bins)."""
    every = [(i, j) for i in range(last + 1) for j in range(i, last + 1)]
    return [(i, j) for i, j in every if (i == j or i == 0 or j == last) and (i, j) != (0, last)]


def _range_slice(
    name: str,
    values: FloatArray,
    bins: IntArray,
    errors: FloatArray,
    span: tuple[int, int],
    last: int,
    integral: bool,
) -> Candidate:
    inside = ~np.isnan(values) & (bins >= span[0]) & (bins <= span[1])
    chosen = values[inside]
    low, high = float(chosen.min()), float(chosen.max())
    if span[0] == 0:
        text = f"{name} <= {_number(high, integral)}"
    elif span[1] == last:
        text = f"{name} >= {_number(low, integral)}"
    else:
        text = f"{name} in [{_number(low, integral)}, {_number(high, integral)}]"
    size, error = int(inside.sum()), float(errors[inside].mean())
    overall = float(errors.mean())
    record = Slice(name, "range", text, size, error, overall, lower=low, upper=high)
    return record, span


def _categorical(
    name: str, column: pd.Series[Any], errors: FloatArray, max_categories: int
) -> list[Candidate]:
    missing = column.isna().to_numpy()
    top = column[~missing].value_counts().index[:max_categories]
    overall = float(errors.mean())
    found: list[Candidate] = []
    for value in top:
        inside = (column == value).to_numpy() & ~missing
        text = f"{name} = {value!r}" if isinstance(value, str) else f"{name} = {_plain(value)}"
        size, error = int(inside.sum()), float(errors[inside].mean())
        found.append(
            (Slice(name, "category", text, size, error, overall, category=str(value)), None)
        )
    return found + _missing_slice(name, missing, errors)


def _missing_slice(name: str, missing: np.ndarray[Any, Any], errors: FloatArray) -> list[Candidate]:
    if not missing.any():
        return []
    size, error = int(missing.sum()), float(errors[missing].mean())
    return [(Slice(name, "missing", f"{name} is missing", size, error, float(errors.mean())), None)]


def _select(candidates: list[Candidate], top_k: int) -> list[Slice]:
    """Greedy by impact, skipping a range overlapping one already chosen for that feature."""
    ranked = sorted(candidates, key=lambda c: (-c[0].impact, c[0].description))
    chosen: list[Slice] = []
    taken: dict[str, list[tuple[int, int]]] = {}
    for record, span in ranked:
        if len(chosen) == top_k:
            break
        spans = taken.setdefault(record.feature, [])
        if span is not None and any(span[0] <= b and a <= span[1] for a, b in spans):
            continue
        if span is not None:
            spans.append(span)
        chosen.append(record)
    return chosen


def _number(value: float, integral: bool) -> str:
    return str(round(value)) if integral else f"{value:.4g}"


def _plain(value: object) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)

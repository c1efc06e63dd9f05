"""Realized performance: a metric over time, per model version, once labels arrive.

The input is a :func:`read_labelled` frame. Rows are grouped by version, ordered by
prediction time and cut into consecutive buckets (of a number of rows, or of a time
span); each bucket gets the metric computed by :func:`modelcycle.evaluation.score`, so
monitoring and the training report agree to the last digit.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from modelcycle.core import Task, ValidationError
from modelcycle.evaluation import default_metric, metric_spec, score
from modelcycle.monitoring._logread import probability_matrix

#: Columns of :func:`realized_performance` and :func:`estimated_performance`.
PERFORMANCE_COLUMNS = ("version", "start", "end", "rows", "metric", "value")
#: Default number of buckets per version, and fewest rows in a default bucket.
DEFAULT_BUCKETS, MIN_BUCKET_ROWS = 10, 50
Bucket = tuple[int, pd.Timestamp, pd.Timestamp, np.ndarray]


def realized_performance(
    labelled: pd.DataFrame,
    *,
    task: Task | str,
    classes: Sequence[Any] | None = None,
    metric: str | None = None,
    bucket_rows: int | None = None,
    freq: str | None = None,
) -> pd.DataFrame:
    """The metric per version over time, from predictions and their delayed labels.

    Parameters
    ----------
    labelled:
        A :func:`read_labelled` frame (``version, time, prediction, probabilities,
        label``).
    task:
        The model's task.
    classes:
        Class labels in the order of the logged probabilities (the signature's
        ``classes``); labels are matched to them by value (``1``, ``1.0`` and ``"1"``
        are the same class). Default: the sorted labels and predictions seen.
    metric:
        A metric of :func:`modelcycle.evaluation.score` for the task; default
        :func:`~modelcycle.evaluation.default_metric`.
    bucket_rows:
        Rows per bucket (consecutive by time); default about ten buckets per version
        of at least 50 rows each.
    freq:
        Bucket by time span instead (a pandas offset alias: ``"1h"``, ``"1D"``).

    Returns
    -------
    pandas.DataFrame
        ``version, start, end, rows, metric, value``; ``value`` is NaN where the metric
        is undefined (ROC AUC of a bucket holding one class).

    Examples
    --------
    >>> frame = pd.DataFrame({
    ...     "version": [1] * 4, "time": pd.date_range("2025-01-01", periods=4, freq="h"),
    ...     "prediction": [0, 1, 1, 0], "probabilities": [[0.8, 0.2], [0.3, 0.7],
    ...     [0.4, 0.6], [0.6, 0.4]], "label": [0, 1, 0, 0]})
    >>> result = realized_performance(frame, task="binary", classes=[0, 1])
    >>> result[["rows", "value"]].values.tolist()
    [[4.0, 1.0]]
    """
    kind = Task(task)
    outcome = _Outcome.build(labelled, kind, classes)
    name = metric or outcome.default_metric()
    rows = [
        (version, start, end, len(positions), name, outcome.metric(positions, name))
        for version, start, end, positions in buckets(outcome.frame, bucket_rows, freq)
    ]
    return performance_frame(rows)


def summarize_realized(
    labelled: pd.DataFrame,
    *,
    task: Task | str,
    classes: Sequence[Any] | None = None,
    metric: str | None = None,
) -> dict[int, dict[str, Any]]:
    """The metric of each version over the whole window: ``{version: {rows, metric, value}}``.

    Examples
    --------
    >>> frame = pd.DataFrame({"version": [2, 2], "time": pd.Timestamp("2025-01-01"),
    ...     "prediction": [1.0, 2.0], "probabilities": None, "label": [1.0, 4.0]})
    >>> summarize_realized(frame, task="regression")
    {2: {'rows': 2, 'metric': 'rmse', 'value': 1.4142135623730951}}
    """
    kind = Task(task)
    outcome = _Outcome.build(labelled, kind, classes)
    name = metric or outcome.default_metric()
    versions = outcome.frame["version"].to_numpy()
    summary: dict[int, dict[str, Any]] = {}
    for version in sorted(set(versions.tolist())):
        positions = np.flatnonzero(versions == version)
        value = outcome.metric(positions, name)
        summary[int(version)] = {"rows": len(positions), "metric": name, "value": value}
    return summary


def buckets(frame: pd.DataFrame, bucket_rows: int | None, freq: str | None) -> Iterator[Bucket]:
    """``(version, start, end, positions)`` of each bucket of ``frame``, by version then time.

    ``positions`` index ``frame``'s rows. Row buckets start and end at their first and
    last row's time; time buckets at their span's bounds (empty spans are skipped).
    """
    if bucket_rows is not None and freq is not None:
        raise ValidationError("pass bucket_rows or freq, not both")
    if bucket_rows is not None and (isinstance(bucket_rows, bool) or int(bucket_rows) < 1):
        raise ValidationError(f"bucket_rows={bucket_rows!r} must be a positive number of rows")
    offset = _offset(freq) if freq is not None else None
    times = pd.to_datetime(frame["time"], utc=True) if len(frame) else frame["time"]
    # The order as UTC datetime64 values: ``to_numpy()`` of a time-zone aware column
    # builds a Timestamp object per row (2 s for a million rows).
    order = times.dt.tz_convert(None).to_numpy() if len(frame) else np.empty(0)
    versions = frame["version"].to_numpy()
    for version in sorted(set(versions.tolist())):
        mine = np.flatnonzero(versions == version)
        mine = mine[np.argsort(order[mine], kind="stable")]
        stamps = times.iloc[mine]
        if offset is not None:
            starts = stamps.dt.floor(offset)
            for start in pd.unique(starts):
                chosen = mine[(starts == start).to_numpy()]
                yield int(version), pd.Timestamp(start), pd.Timestamp(start) + offset, chosen
            continue
        for part in _row_chunks(len(mine), bucket_rows):
            chosen = mine[part]
            yield int(version), stamps.iloc[part[0]], stamps.iloc[part[-1]], chosen


def performance_frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """A performance frame (:data:`PERFORMANCE_COLUMNS`) from its rows."""
    frame = pd.DataFrame(rows, columns=list(PERFORMANCE_COLUMNS))
    return frame.astype({"version": "int64", "rows": "int64", "value": "float64"})


class _Outcome:
    """Labels as class codes (or values) beside predictions and probabilities."""

    def __init__(
        self, frame: pd.DataFrame, task: Task, y: np.ndarray, pred: np.ndarray, proba: np.ndarray
    ) -> None:
        self.frame, self.task, self.y, self.pred, self.proba = frame, task, y, pred, proba

    @classmethod
    def build(cls, labelled: pd.DataFrame, task: Task, classes: Sequence[Any] | None) -> _Outcome:
        missing = {"version", "time", "prediction", "label"} - set(labelled.columns)
        if missing:
            raise ValidationError(
                f"the labelled frame lacks column(s) {sorted(missing)}; "
                "pass the frame read_labelled() returns"
            )
        if task is Task.REGRESSION:
            y = pd.to_numeric(labelled["label"], errors="coerce").to_numpy(dtype=float)
            pred = pd.to_numeric(labelled["prediction"], errors="coerce").to_numpy(dtype=float)
            keep = np.isfinite(y) & np.isfinite(pred)
            return cls(labelled[keep].reset_index(drop=True), task, y[keep], pred[keep], pred[keep])
        known = list(classes) if classes is not None else _seen_classes(labelled)
        y, pred = class_codes(labelled["label"], known), class_codes(labelled["prediction"], known)
        proba = _probabilities(labelled, len(known))
        keep = np.isfinite(y) & (np.isfinite(pred) | np.isfinite(proba).all(axis=1))
        pred = np.where(np.isfinite(pred), pred, np.nan_to_num(proba, nan=-1.0).argmax(axis=1))
        frame = labelled[keep].reset_index(drop=True)
        return cls(frame, task, y[keep], pred[keep], proba[keep])

    def default_metric(self) -> str:
        """The task's default metric, or accuracy when it needs probabilities none of the
        rows have (a classifier logged without them)."""
        name = default_metric(self.task)
        needs_proba = metric_spec(name).needs == "probabilities"
        if needs_proba and self.task is not Task.REGRESSION and not np.isfinite(self.proba).any():
            return "accuracy"
        return name

    def metric(self, positions: np.ndarray, name: str) -> float:
        """``name`` over the rows at ``positions`` (NaN when undefined or no rows)."""
        metric_spec(name, self.task)  # a name the table does not give for the task is refused
        if not len(positions):
            return math.nan
        y, pred = self.y[positions], self.pred[positions]
        if self.task is Task.REGRESSION:
            return float(score(self.task, y, y_pred=pred)[name])
        proba = self.proba[positions]
        k = proba.shape[1]
        usable = proba if np.isfinite(proba).all() and k > 1 else None
        if usable is not None and self.task is Task.BINARY:
            usable = usable[:, 1]
        values = score(self.task, y, y_pred=pred, proba=usable, n_classes=max(k, 2))
        return float(values.get(name, math.nan))


def class_codes(values: pd.Series, classes: Sequence[Any]) -> np.ndarray:
    """Class index of each value (NaN for a missing or unknown one), matched by value.

    Examples
    --------
    >>> class_codes(pd.Series([1.0, "0", None, 7]), [0, 1]).tolist()
    [1.0, 0.0, nan, nan]
    """
    index = {class_key(c): i for i, c in enumerate(classes)}
    # A value's code depends on its type and value only: computed once per distinct pair
    # (labels and predictions repeat a few classes over many rows).
    seen: dict[tuple[type, Any], float] = {}
    codes = np.empty(len(values), dtype=float)
    for position, value in enumerate(values.tolist()):
        pair = (type(value), value)
        try:
            codes[position] = seen[pair]
        except (KeyError, TypeError):  # new, or unhashable
            key = class_key(value)
            code = index.get(key, np.nan) if key is not None else np.nan
            codes[position] = code
            if key is not None and isinstance(value, Hashable):  # a missing one may not
                seen[pair] = code  # equal itself (NaN, pd.NA): computed each time
    return codes


def class_key(value: Any) -> str | None:
    """A comparable text for a class label: ``1``, ``1.0`` and ``"1"`` give ``"1"``."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(number)
    text = str(value)
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


def _seen_classes(labelled: pd.DataFrame) -> list[Any]:
    seen = {
        class_key(v): v for v in (*labelled["label"].tolist(), *labelled["prediction"].tolist())
    }
    seen.pop(None, None)
    return [seen[key] for key in sorted(seen, key=_sort_key)]


def _sort_key(key: str | None) -> tuple[int, float, str]:
    try:
        return (0, float(key or ""), "")
    except ValueError:
        return (1, 0.0, key or "")


def _probabilities(labelled: pd.DataFrame, k: int) -> np.ndarray:
    if "probabilities" not in labelled.columns or not len(labelled):
        return np.full((len(labelled), k), np.nan)
    return probability_matrix(labelled["probabilities"], k)


def _row_chunks(n: int, bucket_rows: int | None) -> list[np.ndarray]:
    if n == 0:
        return []
    if bucket_rows is None:
        count = max(1, min(DEFAULT_BUCKETS, n // MIN_BUCKET_ROWS))
        return [part for part in np.array_split(np.arange(n), count) if len(part)]
    return [np.arange(i, min(i + int(bucket_rows), n)) for i in range(0, n, int(bucket_rows))]


def _offset(freq: str) -> pd.DateOffset:
    try:
        offset = pd.tseries.frequencies.to_offset(freq)
        pd.Timestamp(0, tz="UTC").floor(offset)  # refuses spans of varying length (weeks, months)
    except (ValueError, TypeError) as exc:
        raise ValidationError(
            f"freq={freq!r} is not a fixed time span; expected a pandas offset alias such as "
            "'15min', '1h' or '1D'"
        ) from exc
    return offset

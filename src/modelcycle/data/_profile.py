"""Profiles: the reference statistics of a training table, kept for drift monitoring.

A profile stores, per column, what a later window of data is compared with: counts and
missing values for every column; for numbers the moments, 101 quantiles (levels 0,
0.01, ..., 1) and a histogram whose fixed edges a later window is binned with
(:meth:`Histogram.bin`); category frequencies (top K plus "other"); date ranges; and
text lengths. Everything is computed with vectorised NumPy/pandas operations, is
deterministic, and round-trips through JSON via :meth:`Profile.to_dict` and
:meth:`Profile.from_dict`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from modelcycle.core import ColumnKind, Schema, ValidationError
from modelcycle.data._values import (
    guess_date_format,
    is_datetime,
    is_number,
    parse_dates,
    parse_numbers,
    value_counts,
)

#: Version of the :meth:`Profile.to_dict` layout.
PROFILE_FORMAT = 1
#: Levels of :attr:`NumericSummary.quantiles`.
QUANTILE_LEVELS = tuple(i / 100 for i in range(101))
DEFAULT_BINS = 20
DEFAULT_TOP_K = 20
_NUMERIC = {ColumnKind.NUMERIC, ColumnKind.INTEGER}
_CATEGORIES = {ColumnKind.CATEGORICAL, ColumnKind.BOOLEAN, ColumnKind.CONSTANT}


@dataclass(frozen=True, slots=True)
class Histogram:
    """Counts of values in bins between fixed ``edges`` (``len(edges) - 1`` bins).

    A value equal to an inner edge falls in the bin to its right; the last bin holds
    the maximum. Values outside the edges are counted in the outer bins by :meth:`bin`.
    """

    edges: tuple[float, ...]
    counts: tuple[int, ...]

    def bin(self, values: Any) -> tuple[int, ...]:
        """Count ``values`` (finite ones; NaN and infinities are left out) in these bins.

        Examples
        --------
        >>> Histogram(edges=(0.0, 1.0, 2.0), counts=(1, 1)).bin([-5, 0.5, 1.0, 9])
        (2, 2)
        """
        array = np.asarray(values, dtype=np.float64)
        return _bin_counts(np.asarray(self.edges), array[np.isfinite(array)])

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"edges": list(self.edges), "counts": list(self.counts)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Histogram:
        """Build a histogram from :meth:`to_dict` output."""
        return cls(tuple(float(e) for e in data["edges"]), tuple(int(c) for c in data["counts"]))


@dataclass(frozen=True, slots=True)
class NumericSummary:
    """Statistics of the finite values of a numeric column (``std`` with ``ddof=1``)."""

    mean: float
    std: float
    min: float
    max: float
    quantiles: tuple[float, ...]
    histogram: Histogram
    infinite: int = 0

    @classmethod
    def from_values(
        cls, values: np.ndarray, *, bins: int = DEFAULT_BINS, infinite: int = 0
    ) -> NumericSummary | None:
        """Summarise finite float values; ``None`` when there are none."""
        if values.size == 0:
            return None
        ordered = np.sort(values)
        edges = _edges(ordered, bins)
        return cls(
            mean=float(np.mean(values)),
            std=float(np.std(values, ddof=1)) if values.size > 1 else 0.0,
            min=float(ordered[0]),
            max=float(ordered[-1]),
            quantiles=_floats(np.quantile(ordered, QUANTILE_LEVELS)),
            histogram=Histogram(_floats(edges), _bin_counts(edges, ordered)),
            infinite=infinite,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "type": "numeric",
            "mean": self.mean,
            "std": self.std,
            "min": self.min,
            "max": self.max,
            "quantiles": list(self.quantiles),
            "histogram": self.histogram.to_dict(),
            "infinite": self.infinite,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NumericSummary:
        """Build a summary from :meth:`to_dict` output."""
        return cls(
            mean=float(data["mean"]),
            std=float(data["std"]),
            min=float(data["min"]),
            max=float(data["max"]),
            quantiles=tuple(float(q) for q in data["quantiles"]),
            histogram=Histogram.from_dict(data["histogram"]),
            infinite=int(data.get("infinite", 0)),
        )


@dataclass(frozen=True, slots=True)
class CategorySummary:
    """Frequencies of the ``top`` values (as text, most frequent first) and of the rest."""

    distinct: int
    top: tuple[tuple[str, int], ...]
    other: int = 0

    @property
    def frequencies(self) -> dict[str, int]:
        """Counts of the top values, plus ``"__other__"`` for all the others."""
        return {**dict(self.top), "__other__": self.other}

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        top = [[value, count] for value, count in self.top]
        return {"type": "categorical", "distinct": self.distinct, "top": top, "other": self.other}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CategorySummary:
        """Build a summary from :meth:`to_dict` output."""
        top = tuple((str(value), int(count)) for value, count in data["top"])
        return cls(distinct=int(data["distinct"]), top=top, other=int(data["other"]))


@dataclass(frozen=True, slots=True)
class DatetimeSummary:
    """First and last date, as ISO 8601 text."""

    min: str
    max: str

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"type": "datetime", "min": self.min, "max": self.max}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatetimeSummary:
        """Build a summary from :meth:`to_dict` output."""
        return cls(min=str(data["min"]), max=str(data["max"]))


@dataclass(frozen=True, slots=True)
class TextSummary:
    """Statistics of the length, in characters, of a text column's values."""

    length: NumericSummary

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"type": "text", "length": self.length.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TextSummary:
        """Build a summary from :meth:`to_dict` output."""
        return cls(length=NumericSummary.from_dict(data["length"]))


Summary = NumericSummary | CategorySummary | DatetimeSummary | TextSummary
_SUMMARIES: dict[str, type[Summary]] = {
    "numeric": NumericSummary,
    "categorical": CategorySummary,
    "datetime": DatetimeSummary,
    "text": TextSummary,
}


@dataclass(frozen=True, slots=True)
class ColumnProfile:
    """One column's reference statistics.

    ``count`` values are present and valid, ``missing`` are absent, and ``invalid`` are
    present but not of the column's kind (words in a numeric column, unparseable dates).
    """

    name: str
    kind: ColumnKind
    count: int
    missing: int
    invalid: int = 0
    summary: Summary | None = None

    @property
    def missing_rate(self) -> float:
        """Share of rows where the value is missing."""
        rows = self.count + self.missing + self.invalid
        return self.missing / rows if rows else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (``missing_rate`` included for readers)."""
        return {
            "name": self.name,
            "kind": self.kind.value,
            "count": self.count,
            "missing": self.missing,
            "missing_rate": self.missing_rate,
            "invalid": self.invalid,
            "summary": self.summary.to_dict() if self.summary is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnProfile:
        """Build a column profile from :meth:`to_dict` output."""
        summary = data.get("summary")
        return cls(
            name=str(data["name"]),
            kind=ColumnKind(data["kind"]),
            count=int(data["count"]),
            missing=int(data["missing"]),
            invalid=int(data.get("invalid", 0)),
            summary=_SUMMARIES[summary["type"]].from_dict(summary) if summary else None,
        )


@dataclass(frozen=True, slots=True)
class Profile:
    """Reference statistics of a table: the baseline that drift is measured against.

    Examples
    --------
    >>> import json, pandas as pd
    >>> from modelcycle.data import infer_schema
    >>> df = pd.DataFrame({"x": [1.0, 2.0, 3.0, None], "c": ["a", "b", "a", "a"]})
    >>> profile = Profile.from_frame(df, infer_schema(df))
    >>> profile["x"].missing_rate, profile["x"].summary.mean
    (0.25, 2.0)
    >>> Profile.from_dict(json.loads(json.dumps(profile.to_dict()))) == profile
    True
    """

    rows: int
    columns: tuple[ColumnProfile, ...]
    target: str | None = None

    @classmethod
    def from_frame(
        cls,
        df: pd.DataFrame,
        schema: Schema,
        *,
        top_k: int = DEFAULT_TOP_K,
        bins: int = DEFAULT_BINS,
    ) -> Profile:
        """Profile the columns of ``df`` that ``schema`` keeps (features and target).

        Parameters
        ----------
        df:
            The table.
        schema:
            Its schema; dropped columns are left out, the target is kept.
        top_k:
            Most frequent categories stored per categorical column.
        bins:
            Most histogram bins per numeric column (fewer when values repeat).
        """
        _check_arguments(df, schema, top_k, bins)
        kept = [c for c in schema.columns if not c.dropped or c.name == schema.target]
        absent = [c.name for c in kept if c.name not in df.columns]
        if absent:
            raise ValidationError(
                f"columns {absent} of the schema are missing from the table; "
                "expected every kept column to profile",
                details={"columns": absent},
            )
        profiles = tuple(
            profile_column(df[c.name], c.name, c.kind, top_k=top_k, bins=bins) for c in kept
        )
        return cls(rows=len(df), columns=profiles, target=schema.target)

    @property
    def names(self) -> list[str]:
        """Names of the profiled columns, in order."""
        return [c.name for c in self.columns]

    def __getitem__(self, name: str) -> ColumnProfile:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (no NaN or infinity anywhere)."""
        return {
            "format": PROFILE_FORMAT,
            "rows": self.rows,
            "target": self.target,
            "columns": [c.to_dict() for c in self.columns],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        """Build a profile from :meth:`to_dict` output.

        Raises
        ------
        ValidationError
            The data is not a profile of a known format.
        """
        try:
            if data["format"] != PROFILE_FORMAT:
                raise ValueError(f"format {data['format']!r} is not {PROFILE_FORMAT}")
            columns = tuple(ColumnProfile.from_dict(c) for c in data["columns"])
            return cls(rows=int(data["rows"]), columns=columns, target=data.get("target"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError(
                f"profile data is not valid ({type(exc).__name__}: {exc}); expected the "
                f"output of Profile.to_dict() with format {PROFILE_FORMAT}"
            ) from exc


def profile(
    df: pd.DataFrame, schema: Schema, *, top_k: int = DEFAULT_TOP_K, bins: int = DEFAULT_BINS
) -> Profile:
    """Profile a table; the same as :meth:`Profile.from_frame`."""
    return Profile.from_frame(df, schema, top_k=top_k, bins=bins)


def profile_column(
    series: pd.Series,
    name: str,
    kind: ColumnKind,
    *,
    top_k: int = DEFAULT_TOP_K,
    bins: int = DEFAULT_BINS,
) -> ColumnProfile:
    """Profile one column as the given kind."""
    present = series.notna().to_numpy()
    missing = int((~present).sum())
    if kind in _NUMERIC:
        values, invalid = _numbers(series, present)
        finite = values[np.isfinite(values)]
        infinite = int(np.isinf(values).sum())
        summary: Summary | None = NumericSummary.from_values(finite, bins=bins, infinite=infinite)
        return ColumnProfile(name, kind, int(values.size), missing, invalid, summary)
    if kind is ColumnKind.DATETIME:
        stamps, invalid = _datetimes(series, present)
        return ColumnProfile(name, kind, len(stamps), missing, invalid, _date_range(stamps))
    if kind in _CATEGORIES:
        summary = _categories(series, name, top_k)
    elif kind is ColumnKind.TEXT:
        lengths = series[present].astype(str).str.len().to_numpy(dtype=np.float64)
        length = NumericSummary.from_values(lengths, bins=bins)
        summary = TextSummary(length) if length is not None else None
    else:
        summary = None
    return ColumnProfile(name, kind, int(present.sum()), missing, 0, summary)


def _check_arguments(df: pd.DataFrame, schema: Schema, top_k: int, bins: int) -> None:
    if not isinstance(df, pd.DataFrame):
        raise ValidationError(f"expected a pandas DataFrame; got a {type(df).__name__}")
    if not isinstance(schema, Schema):
        raise ValidationError(f"expected a modelcycle Schema; got a {type(schema).__name__}")
    for label, value in (("top_k", top_k), ("bins", bins)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValidationError(f"{label} is {value!r}; expected a positive integer")


def _numbers(series: pd.Series, present: np.ndarray) -> tuple[np.ndarray, int]:
    """Present values as float64, and how many present values are not numbers."""
    if is_number(series) or ptypes.is_bool_dtype(series.dtype):
        values = series[present].to_numpy(dtype=np.float64)
        return values, 0
    if ptypes.is_timedelta64_dtype(series.dtype):
        return series[present].dt.total_seconds().to_numpy(dtype=np.float64), 0
    parsed = parse_numbers(series[present])
    valid = ~np.isnan(parsed)
    return parsed[valid], int((~valid).sum())


def _datetimes(series: pd.Series, present: np.ndarray) -> tuple[pd.Series, int]:
    values = series[present]
    if not is_datetime(values):
        values = parse_dates(values, guess_date_format(values))
    parsed = values.dropna()
    return parsed, len(values) - len(parsed)


def _date_range(stamps: pd.Series) -> DatetimeSummary | None:
    if stamps.empty:
        return None
    return DatetimeSummary(min=stamps.min().isoformat(), max=stamps.max().isoformat())


def _categories(series: pd.Series, name: str, top_k: int) -> CategorySummary | None:
    counts = value_counts(series, name)
    if counts.empty:
        return None
    labels = pd.Series(counts.to_numpy(dtype=np.int64), index=[str(v) for v in counts.index])
    grouped = labels.groupby(level=0, sort=True).sum()
    order = np.argsort(-grouped.to_numpy(), kind="stable")  # ties keep text order
    ranked = grouped.iloc[order]
    top = tuple((str(value), int(count)) for value, count in ranked.iloc[:top_k].items())
    other = int(ranked.iloc[top_k:].sum())
    return CategorySummary(distinct=len(grouped), top=top, other=other)


def _edges(ordered: np.ndarray, bins: int) -> np.ndarray:
    """Equal-frequency edges; one bin per value when there are at most ``bins`` values."""
    distinct = ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]
    if distinct.size == 1:
        return np.array([distinct[0], distinct[0]])
    if distinct.size <= bins:
        middles = (distinct[:-1] + distinct[1:]) / 2
        return np.concatenate(([distinct[0]], middles, [distinct[-1]]))
    return np.unique(np.quantile(ordered, np.linspace(0.0, 1.0, bins + 1)))


def _bin_counts(edges: np.ndarray, values: np.ndarray) -> tuple[int, ...]:
    positions = np.searchsorted(edges[1:-1], values, side="right")
    return tuple(int(c) for c in np.bincount(positions, minlength=edges.size - 1))


def _floats(values: np.ndarray) -> tuple[float, ...]:
    return tuple(float(v) for v in values)

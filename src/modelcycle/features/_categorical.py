"""Categorical columns: native integer codes, one-hot columns, target means or frequencies.

Every cell is first turned into a *row* of a lookup table (its code), then the
table row is copied out, so every encoding costs one dict lookup per cell
and one NumPy gather per column:

- row 0: missing value; row 1: unseen category (when there is no "other");
- rows 2 .. 2+k-1: the kept categories, sorted by their string form;
- row 2+k: "other", the rare categories folded together (when there were any).

What each encoding writes:

============  ========================  ==========================  ============================
encoding      kept category             rare or unseen category     missing value
============  ========================  ==========================  ============================
``native``    its code 0 .. k-1         code k ("other") if rare    NaN (LightGBM's missing)
                                        categories were folded,
                                        else NaN
``onehot``    1 in its column           1 in ``name=<other>`` if    all zeros
                                        it exists, else all zeros
``target``    its smoothed mean         the prior (overall mean)    the smoothed mean of the
                                                                    training rows with missing
                                                                    values (the prior if none)
``count``     its share of the          0                           the share of training rows
              training rows                                         with missing values
============  ========================  ==========================  ============================

``count`` keeps every category: a level's frequency is a number a tree can split on however
many levels there are, and it needs no target (so no out-of-fold care).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from modelcycle.core import ValidationError
from modelcycle.features._base import Encoder, float_list, require
from modelcycle.features._table import RowsTable, Table, TableLike, as_table
from modelcycle.features._target import Target, means_from_sums, smoothed_means
from modelcycle.features._values import (
    BadValue,
    ColumnValues,
    as_objects,
    category_key,
    convert_all,
    invalid_value,
)

MISSING = 0
UNKNOWN = 1
OTHER_LABEL = "<other>"
ENCODINGS = ("native", "onehot", "target", "count")
#: Encodings whose output is a table of numbers per code, saved with the encoder.
_TABLE_ENCODINGS = frozenset({"target", "count"})


class CategoricalEncoder(Encoder):
    """Fitted encoding of one categorical column (see the module docstring).

    ``table`` (target and count encodings) holds the ``(2 + k, m)`` smoothed means or the
    ``(2 + k, 1)`` shares of the rows, and ``suffixes`` the names of its ``m`` output columns.
    """

    kind = "categorical"

    def __init__(
        self,
        *,
        column: str,
        encoding: str,
        categories: Sequence[str],
        folded: Sequence[str] = (),
        table: Sequence[Sequence[float]] | None = None,
        suffixes: Sequence[str] = ("target",),
    ) -> None:
        if encoding not in ENCODINGS:
            raise ValidationError(f"encoding {encoding!r} is not one of {ENCODINGS}")
        self.column = column
        self.encoding = encoding
        self.categories = [str(c) for c in categories]
        self.folded = [str(c) for c in folded]
        self.suffixes = [str(s) for s in suffixes]
        k = len(self.categories)
        other = 2 + k if self.folded else None
        self._lookup = {c: 2 + i for i, c in enumerate(self.categories)}
        self._lookup.update(dict.fromkeys(self.folded, 2 + k))
        self._unknown = UNKNOWN if other is None else other
        self._n_codes = 2 + k + (other is not None)
        self._table = self._build_table(table)

    def _build_table(self, table: Sequence[Sequence[float]] | None) -> NDArray[np.float64]:
        n_kept = self._n_codes - 2
        if self.encoding == "native":
            return np.array([[math.nan], [math.nan]] + [[float(i)] for i in range(n_kept)])
        if self.encoding == "onehot":
            return np.vstack([np.zeros((2, n_kept)), np.eye(n_kept)])
        built = np.array(table if table is not None else [], dtype=np.float64)
        if built.shape != (self._n_codes, len(self.suffixes)):
            raise ValidationError(
                f"{self.encoding} encoding table of column {self.column!r} has shape "
                f"{built.shape}; "
                f"expected {(self._n_codes, len(self.suffixes))}"
            )
        return built

    @property
    def n_codes(self) -> int:
        """Rows of the lookup table: missing, unknown, the kept categories and "other"."""
        return self._n_codes

    @property
    def feature_names(self) -> list[str]:
        if self.encoding == "native":
            return [self.column]
        if self.encoding == "onehot":
            labels = self.categories + ([OTHER_LABEL] if self.folded else [])
            return [f"{self.column}={label}" for label in labels]
        return [f"{self.column}__{suffix}" for suffix in self.suffixes]

    def _code(self, value: Any) -> int:
        if type(value) is str:
            return self._lookup.get(value, self._unknown)
        key = category_key(value)
        if key is None:
            return MISSING
        return self._lookup.get(key, self._unknown)

    def codes(self, table: Table) -> NDArray[np.intp]:
        """Return every row's lookup-table row (see the module docstring)."""
        values = table.column(self.column)
        if values is None:
            return np.full(table.n_rows, MISSING, dtype=np.intp)
        if isinstance(values, pd.Series) and values.dtype != object:
            inverse, uniques = _factorize(self.column, values)
            return np.array([self._code(u) for u in uniques] + [MISSING], dtype=np.intp)[inverse]
        lookup, unknown = self._lookup, self._unknown
        if isinstance(values, list) and all(type(v) is str for v in values):
            return np.array([lookup.get(v, unknown) for v in values], dtype=np.intp)
        return np.array(convert_all(self.column, as_objects(values), self._code), dtype=np.intp)

    def transform_into(self, table: Table, out: NDArray[np.float64]) -> None:
        if isinstance(table, RowsTable) and table.n_rows == 1:  # one request: no arrays
            value = table.rows[0].get(self.column)
            try:
                out[0] = self._table[self._code(value)]
            except BadValue as exc:
                raise invalid_value(self.column, 0, value, exc.expected) from None
            return
        out[...] = self._table[self.codes(table)]

    def out_of_fold(
        self,
        codes: NDArray[np.intp],
        target: Target,
        folds: Sequence[tuple[NDArray[np.intp], NDArray[np.intp]]],
        smoothing: float,
    ) -> NDArray[np.float64]:
        """Return training encodings where each row's means come only from other folds."""
        encoded = np.empty((codes.shape[0], len(self.suffixes)), dtype=np.float64)
        for train, held_out in folds:
            table = smoothed_means(codes[train], target.matrix[train], self._n_codes, smoothing)
            encoded[held_out] = table[codes[held_out]]
        return encoded

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.kind,
            "column": self.column,
            "encoding": self.encoding,
            "categories": list(self.categories),
            "folded": list(self.folded),
        }
        if self.encoding in _TABLE_ENCODINGS:
            data["table"] = [float_list(row) for row in self._table]
            data["suffixes"] = list(self.suffixes)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CategoricalEncoder:
        owner = f"categorical column {data.get('column')!r}"
        return cls(
            column=require(data, "column", owner),
            encoding=require(data, "encoding", owner),
            categories=require(data, "categories", owner),
            folded=data.get("folded", ()),
            table=data.get("table"),
            suffixes=data.get("suffixes", ("target",)),
        )


def _factorize(column: str, values: pd.Series) -> tuple[NDArray[np.intp], list[Any]]:
    """Distinct values and each row's index into them (-1 for missing, last in the lookup)."""
    inverse, uniques = pd.factorize(values, use_na_sentinel=True)
    uniques = list(uniques)
    for index, unique in enumerate(uniques):
        try:
            category_key(unique)
        except BadValue as exc:
            row = int(np.flatnonzero(inverse == index)[0])
            raise invalid_value(column, row, unique, exc.expected) from None
    return inverse.astype(np.intp), uniques


def _training_keys(column: str, values: ColumnValues, n_rows: int) -> list[str | None]:
    if values is None:
        return [None] * n_rows
    if isinstance(values, pd.Series) and values.dtype != object:
        inverse, uniques = _factorize(column, values)
        keys = [category_key(u) for u in uniques] + [None]
        return [keys[i] for i in inverse]
    return convert_all(column, as_objects(values), category_key)


def fit_categorical(
    table: Table,
    column: str,
    *,
    encoding: str,
    min_count: int,
    max_onehot: int,
    target: Target | None = None,
    smoothing: float = 10.0,
) -> CategoricalEncoder:
    """Fit the encoding of one categorical column on a training table.

    Categories seen fewer than ``min_count`` times (and, for one-hot, all but the
    ``max_onehot`` most frequent) are folded into "other"; target encoding keeps
    every category, as smoothing already shrinks rare ones towards the prior, and so does
    count encoding, whose very point is how rare a category is.
    """
    keys = _training_keys(column, table.column(column), table.n_rows)
    counted: Counter[str | None] = Counter(keys)  # counted in C, not row by row in Python
    counted.pop(None, None)
    counts = cast("Counter[str]", counted)
    if encoding == "count":
        return categorical_from_counts(column, counts, encoding="count", rows=len(keys))
    if encoding == "target":
        if target is None:
            raise ValidationError(
                f"target encoding of column {column!r} needs the target; pass y to fit "
                "or include the schema's target column in the frame"
            )
        draft = CategoricalEncoder(column=column, encoding="native", categories=sorted(counts))
        lookup = draft._lookup
        codes = np.array([MISSING if k is None else lookup[k] for k in keys], dtype=np.intp)
        means = smoothed_means(codes, target.matrix, draft._n_codes, smoothing)
        means[UNKNOWN] = target.prior
        return CategoricalEncoder(
            column=column,
            encoding=encoding,
            categories=sorted(counts),
            table=means.tolist(),
            suffixes=target.suffixes,
        )
    return categorical_from_counts(
        column, counts, encoding=encoding, min_count=min_count, max_onehot=max_onehot
    )


def category_counts(data: TableLike, column: str) -> Counter[str]:
    """How many rows hold each category of ``column``, keyed as the encoders read cells.

    Counts of several tables add up to the counts of their union, so a caller can count
    a dataset part by part (on a cluster) and fit with :func:`categorical_from_counts`.

    Examples
    --------
    >>> category_counts({"city": ["Oslo", None, "Oslo", 1.0]}, "city")
    Counter({'Oslo': 2, '1': 1})
    """
    table = as_table(data)
    keys = _training_keys(column, table.column(column), table.n_rows)
    return Counter(key for key in keys if key is not None)


def categorical_from_counts(
    column: str,
    counts: Counter[str],
    *,
    encoding: str = "native",
    min_count: int = 1,
    max_onehot: int = 32,
    rows: int | None = None,
) -> CategoricalEncoder:
    """The ``native``, ``onehot`` or ``count`` encoding of a column whose category counts
    are known.

    Categories seen fewer than ``min_count`` times (and, for one-hot, all but the
    ``max_onehot`` most frequent) are folded into "other", as :func:`fit_categorical` does.
    ``count`` needs ``rows``, the training rows the counts were taken from (those not
    counted had a missing value).

    Examples
    --------
    >>> counts = Counter({"Oslo": 3, "Rome": 1})
    >>> categorical_from_counts("city", counts, min_count=2).categories
    ['Oslo']
    >>> categorical_from_counts("city", counts, encoding="count", rows=5).to_dict()["table"]
    [[0.2], [0.0], [0.6], [0.2]]
    """
    if encoding not in ("native", "onehot", "count"):
        raise ValidationError(
            f"an encoding from category counts is 'native', 'onehot' or 'count'; got {encoding!r}"
        )
    if encoding == "count":
        if rows is None or rows < sum(counts.values()):
            raise ValidationError(
                f"count encoding of column {column!r} needs the rows the counts were taken "
                f"from (at least {sum(counts.values())}); got {rows!r}"
            )
        categories = sorted(counts)
        n_rows = max(rows, 1)
        missing = rows - sum(counts.values())
        shares = [missing / n_rows, 0.0] + [counts[c] / n_rows for c in categories]
        return CategoricalEncoder(
            column=column,
            encoding="count",
            categories=categories,
            table=[[share] for share in shares],
            suffixes=("count",),
        )
    ranked = sorted(counts, key=lambda key: (-counts[key], key))
    kept = [key for key in ranked if counts[key] >= min_count]
    if encoding == "onehot":
        kept = kept[:max_onehot]
    folded = sorted(set(counts) - set(kept))
    return CategoricalEncoder(
        column=column, encoding=encoding, categories=sorted(kept), folded=folded
    )


@dataclass
class TargetSums:
    """One column's rows and target sums per category and per fold of the rows.

    What a target encoding is fitted from: the encoding of all rows (:meth:`encoder`) and
    the out-of-fold encodings of the training rows (:meth:`out_of_fold`) as
    :meth:`Preprocessor.fit_transform` computes them. Sums of several tables add up
    (:meth:`merge`), so a cluster computes them partition by partition.

    ``keys[i]`` is a category (``None``: a missing value), ``counts[i, f]`` its rows in
    fold ``f`` and ``sums[i, f]`` the sum of their ``m`` target columns.
    """

    keys: list[str | None]
    counts: NDArray[np.float64]  # (keys, folds)
    sums: NDArray[np.float64]  # (keys, folds, m)

    @classmethod
    def of(
        cls,
        data: TableLike,
        column: str,
        matrix: NDArray[np.float64],
        folds: NDArray[np.intp],
        n_folds: int,
    ) -> TargetSums:
        """The sums of one table: its rows' targets (``matrix``, ``(n, m)``) and folds.

        Examples
        --------
        >>> sums = TargetSums.of({"city": ["Oslo", "Oslo", None]}, "city",
        ...                      np.array([[1.0], [0.0], [1.0]]), np.array([0, 1, 1]), 2)
        >>> sums.keys, sums.counts.tolist(), sums.sums[:, :, 0].tolist()
        (['Oslo', None], [[1.0, 1.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]])
        """
        table = as_table(data)
        keys = _training_keys(column, table.column(column), table.n_rows)
        inverse, uniques = pd.factorize(np.array(keys, dtype=object), use_na_sentinel=True)
        n_keys = len(uniques) + 1  # the last: missing values
        index = np.where(inverse < 0, n_keys - 1, inverse) * n_folds + folds
        size = n_keys * n_folds
        counts = np.bincount(index, minlength=size).astype(np.float64)
        sums = np.stack(
            [np.bincount(index, weights=matrix[:, j], minlength=size)
             for j in range(matrix.shape[1])],
            axis=-1,
        ).astype(np.float64, copy=False)  # fmt: skip
        return cls(
            keys=[str(u) for u in uniques] + [None],
            counts=counts.reshape(n_keys, n_folds),
            sums=sums.reshape(n_keys, n_folds, matrix.shape[1]),
        )

    @classmethod
    def merge(cls, parts: Sequence[TargetSums]) -> TargetSums:
        """The sums of the union of the parts' tables (same folds, same target columns)."""
        position: dict[str | None, int] = {}
        for part in parts:
            for key in part.keys:
                position.setdefault(key, len(position))
        first = parts[0]
        counts = np.zeros((len(position), first.counts.shape[1]))
        sums = np.zeros((len(position), *first.sums.shape[1:]))
        for part in parts:
            rows = np.array([position[key] for key in part.keys], dtype=np.intp)
            np.add.at(counts, rows, part.counts)
            np.add.at(sums, rows, part.sums)
        return cls(keys=list(position), counts=counts, sums=sums)

    def encoder(self, column: str, suffixes: Sequence[str], smoothing: float) -> CategoricalEncoder:
        """The target encoding learnt from every row: what serving and holdout rows get."""
        categories = sorted(key for key in self.keys if key is not None)
        counts, sums = self._by_code(categories, self.counts.sum(axis=1), self.sums.sum(axis=1))
        means = means_from_sums(counts, sums, smoothing)
        means[UNKNOWN] = sums.sum(axis=0) / max(float(counts.sum()), 1.0)  # the prior
        return CategoricalEncoder(
            column=column,
            encoding="target",
            categories=categories,
            table=means.tolist(),
            suffixes=suffixes,
        )

    def out_of_fold(self, encoder: CategoricalEncoder, smoothing: float) -> NDArray[np.float64]:
        """``(folds, encoder.n_codes, m)``: for each fold, the means of the other folds' rows.

        A training row of fold ``f`` is encoded from ``result[f]`` (by its code in
        ``encoder``), so a learner cannot read its own target back.
        """
        total_counts, total_sums = self.counts.sum(axis=1), self.sums.sum(axis=1)
        tables = []
        for fold in range(self.counts.shape[1]):
            counts, sums = self._by_code(
                encoder.categories,
                total_counts - self.counts[:, fold],
                total_sums - self.sums[:, fold],
            )
            tables.append(means_from_sums(counts, sums, smoothing))
        return np.stack(tables)

    def _by_code(
        self, categories: Sequence[str], counts: NDArray[np.float64], sums: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Counts and sums in the lookup table's order: missing, unknown, the categories."""
        code: dict[str | None, int] = {key: 2 + i for i, key in enumerate(categories)}
        code[None] = MISSING
        rows = np.array([code[key] for key in self.keys], dtype=np.intp)
        by_code_counts = np.zeros(2 + len(categories))
        by_code_sums = np.zeros((2 + len(categories), sums.shape[1]))
        np.add.at(by_code_counts, rows, counts)
        np.add.at(by_code_sums, rows, sums)
        return by_code_counts, by_code_sums

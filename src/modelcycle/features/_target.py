"""The target for target (mean) encoding: its matrix, smoothed means and out-of-fold folds.

A regression target is encoded by its mean; a binary one by the share of its
second class (classes sorted by their string form); a multiclass one by the
share of every class, one output column per class. Means are smoothed towards
the overall mean (the *prior*) with weight ``smoothing``::

    encoding = (sum of y in the category + smoothing * prior) / (count + smoothing)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelcycle.core import ColumnKind, Schema, ValidationError
from modelcycle.features._values import as_objects, category_key, convert_all, float_column

_CLASSIFICATION_KINDS = frozenset({ColumnKind.CATEGORICAL, ColumnKind.BOOLEAN})


@dataclass(frozen=True, slots=True)
class Target:
    """A training target ready for mean encoding.

    ``matrix`` is ``(n, m)``: the values (regression), the second-class indicator
    (binary) or one indicator per class (multiclass). ``labels`` holds the class
    keys per row (``None`` for regression), used to stratify folds.
    """

    matrix: NDArray[np.float64]
    suffixes: tuple[str, ...]
    labels: tuple[str, ...] | None

    @property
    def prior(self) -> NDArray[np.float64]:
        """Mean of every target column over all rows."""
        return self.matrix.mean(axis=0)  # type: ignore[no-any-return]


def _is_classification(schema: Schema, y: Any) -> bool:
    if schema.target is not None and schema.target in schema.names:
        kind = schema[schema.target].kind
        if kind in _CLASSIFICATION_KINDS:
            return True
        if kind in (ColumnKind.NUMERIC, ColumnKind.INTEGER):
            return False
    dtype = getattr(y, "dtype", None)
    if dtype is not None and dtype.kind in "iuf":
        return False
    cells = as_objects(y)
    return not all(isinstance(v, int | float) and not isinstance(v, bool) for v in cells)


def prepare_target(schema: Schema, y: Any, classes: Sequence[str] | None = None) -> Target:
    """Check ``y`` and turn it into a :class:`Target` (classification or regression).

    A classification target's ``classes`` (their string keys, sorted) are those of ``y``
    unless given: a caller encoding part of a dataset gives the classes of the whole, and
    a row whose class is not among them gets zeros.
    """
    name = schema.target or "y"
    if _is_classification(schema, y):
        keys = convert_all(name, as_objects(y), category_key)
        if any(key is None for key in keys):
            raise _missing_target(name, sum(key is None for key in keys))
        labels = tuple(str(key) for key in keys)
        classes = sorted(set(labels)) if classes is None else list(classes)
        if len(classes) < 2:
            raise ValidationError(
                f"target {name!r} has the single class {classes!r}; expected at least two "
                "classes for target encoding"
            )
        position = {label: index for index, label in enumerate(classes)}
        codes = np.array([position.get(label, -1) for label in labels], dtype=np.intp)
        if len(classes) == 2:
            matrix = (codes == 1).astype(np.float64)[:, None]
            return Target(matrix, ("target",), labels)
        matrix = (codes[:, None] == np.arange(len(classes))).astype(np.float64)
        return Target(matrix, tuple(f"target_{c}" for c in classes), labels)
    values = float_column(name, y, len(y))
    if not np.isfinite(values).all():
        raise _missing_target(name, int((~np.isfinite(values)).sum()))
    return Target(values[:, None], ("target",), None)


def _missing_target(name: str, count: int) -> ValidationError:
    return ValidationError(
        f"target {name!r} has {count} missing or infinite values; expected a value in every "
        "row (drop those rows before fitting)",
        details={"column": name, "missing": count},
    )


@dataclass(frozen=True, slots=True)
class TargetCodes:
    """A target-encoded column: where its output starts, each row's code, how many codes.

    ``target`` is the training target as :class:`Target` holds it (one row per code).
    """

    start: int
    codes: NDArray[np.intp]
    n_codes: int
    target: NDArray[np.float64]

    def encode(
        self,
        train: NDArray[np.intp],
        valid: NDArray[np.intp],
        *,
        smoothing: float,
        folds: int,
        random_state: Any,
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The encoding of ``train`` and ``valid`` rows learnt from the ``train`` rows only.

        What a :class:`Preprocessor` fitted on the ``train`` rows would give: the
        ``train`` rows out of ``folds`` inner folds (as :meth:`Preprocessor.fit_transform`),
        the ``valid`` rows from all ``train`` rows (as ``transform``).
        """
        from sklearn.model_selection import KFold  # not on the serving path

        codes, targets = self.codes[train], self.target[train]
        encoded_train = np.empty((len(train), targets.shape[1]), dtype=np.float64)
        splitter = KFold(n_splits=min(folds, len(train)), shuffle=True, random_state=random_state)
        for inner, held_out in splitter.split(codes):
            table = smoothed_means(codes[inner], targets[inner], self.n_codes, smoothing)
            encoded_train[held_out] = table[codes[held_out]]
        table = smoothed_means(codes, targets, self.n_codes, smoothing)
        return encoded_train, table[self.codes[valid]]


def smoothed_means(
    codes: NDArray[np.intp], matrix: NDArray[np.float64], n_codes: int, smoothing: float
) -> NDArray[np.float64]:
    """Return the ``(n_codes, m)`` smoothed means; a code without rows gets the prior."""
    counts = np.bincount(codes, minlength=n_codes).astype(np.float64)
    sums = np.stack(
        [
            np.bincount(codes, weights=matrix[:, j], minlength=n_codes)
            for j in range(matrix.shape[1])
        ],
        axis=1,
    ).astype(np.float64, copy=False)
    return means_from_sums(counts, sums, smoothing)


def means_from_sums(
    counts: NDArray[np.float64], sums: NDArray[np.float64], smoothing: float
) -> NDArray[np.float64]:
    """The ``(n_codes, m)`` smoothed means from each code's rows and ``(n_codes, m)`` target sums.

    Each code's mean is pulled towards the prior (the mean over every row) by ``smoothing``
    pseudo-rows; a code without rows gets the prior. Sums of several tables add up, so
    the means of a dataset can be computed part by part.

    Examples
    --------
    >>> means_from_sums(np.array([3.0, 1.0]), np.array([[3.0], [0.0]]), smoothing=1.0)
    array([[0.9375],
           [0.375 ]])
    """
    prior = sums.sum(axis=0) / max(float(counts.sum()), 1.0)
    weight = counts + smoothing
    safe = np.where(weight > 0, weight, 1.0)[:, None]
    means = (sums + smoothing * prior) / safe
    return np.asarray(np.where(weight[:, None] > 0, means, prior), dtype=np.float64)


def fold_indices(
    target: Target, folds: int, random_state: Any
) -> Sequence[tuple[NDArray[np.intp], NDArray[np.intp]]]:
    """Return shuffled (train, held-out) row indices, stratified for classes when possible."""
    # Only fitting splits rows: scikit-learn (and SciPy behind it) stay out of a server.
    from sklearn.model_selection import KFold, StratifiedKFold

    n_rows = target.matrix.shape[0]
    if n_rows < folds:
        raise ValidationError(
            f"target encoding needs at least target_folds={folds} rows; got {n_rows}"
        )
    if target.labels is not None and min(Counter(target.labels).values()) >= folds:
        stratified = StratifiedKFold(n_splits=folds, shuffle=True, random_state=random_state)
        return list(stratified.split(np.zeros(n_rows), target.labels))
    splitter = KFold(n_splits=folds, shuffle=True, random_state=random_state)
    return list(splitter.split(np.zeros(n_rows)))

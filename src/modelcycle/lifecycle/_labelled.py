"""Labelled logged rows as training data and as the ground on which two versions are compared.

The prediction log joined with delayed labels (:func:`modelcycle.monitoring.read_labelled`)
is the freshest labelled data a model has: the retrain job adds the older part of it to
the training data and keeps the most recent part out, to compare the champion and the
new challenger on rows neither was trained on.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from modelcycle.core import Task, ValidationError
from modelcycle.evaluation import default_metric
from modelcycle.lifecycle._compare import Comparison, paired_bootstrap
from modelcycle.monitoring import read_labelled
from modelcycle.packaging import LoadedModel, Signature
from modelcycle.registry import ModelVersion, Registry
from modelcycle.store import LogLayout


def labelled_rows(
    layout: LogLayout,
    model: str,
    signature: Signature | None,
    *,
    versions: Iterable[int] | None = None,
    since_ms: int | None = None,
) -> pd.DataFrame:
    """Answered predictions of ``model`` that have a label, oldest first.

    Without ``signature`` the inputs are not decoded (enough to count rows).
    """
    frame = read_labelled(layout, model, signature=signature, versions=versions, since=since_ms)
    return frame[frame["label"].notna()].reset_index(drop=True)


def split_recent(frame: pd.DataFrame, share: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(older, recent)``: the most recent ``share`` of rows (by order) kept apart.

    Examples
    --------
    >>> older, recent = split_recent(pd.DataFrame({"x": range(10)}), 0.3)
    >>> older["x"].tolist(), recent["x"].tolist()
    ([0, 1, 2, 3, 4, 5, 6], [7, 8, 9])
    """
    kept = math.ceil(len(frame) * share) if len(frame) else 0
    cut = len(frame) - kept
    return frame.iloc[:cut].reset_index(drop=True), frame.iloc[cut:].reset_index(drop=True)


def inputs_of(frame: pd.DataFrame, signature: Signature) -> pd.DataFrame:
    """The signature's input columns of a labelled frame, under their own names."""
    columns = {}
    for name in signature.names:
        prefixed = f"inputs.{name}"  # an input named like a log column is prefixed
        columns[name] = frame[prefixed] if prefixed in frame.columns else frame.get(name)
    return pd.DataFrame(columns, index=frame.index)


def training_rows(frame: pd.DataFrame, signature: Signature, target: str) -> pd.DataFrame:
    """Labelled rows as training data: the inputs plus the label as the ``target`` column."""
    rows = inputs_of(frame, signature)
    rows[target] = frame["label"].to_numpy()
    return rows


def version_metric(version: ModelVersion) -> str:
    """The metric monitoring tracks for the version's task (``roc_auc``, ``accuracy``, ``rmse``)."""
    return default_metric(version.signature.task or Task.BINARY)


def compare_versions(
    registry: Registry,
    versions: tuple[ModelVersion, ModelVersion],
    rows: pd.DataFrame,
    *,
    metric: str | None = None,
    confidence: float,
    n_resamples: int,
    seed: int,
) -> tuple[Comparison, dict[str, Any]]:
    """Score two versions on the same labelled rows and bootstrap B's gain over A.

    ``metric`` defaults to :func:`version_metric` of B.

    Returns the comparison and facts about the rows (how many had a label neither
    version knows, and were left out).
    """
    first, second = versions
    task = second.signature.task or first.signature.task or Task.BINARY
    classes = first.signature.classes if task is not Task.REGRESSION else None
    outputs = [
        _outputs(registry.load(v.ref), inputs_of(rows, v.signature), classes) for v in versions
    ]
    y, keep = _targets(rows["label"], classes)
    if int(keep.sum()) < 2:
        raise ValidationError(
            f"only {int(keep.sum())} of {len(rows)} labelled rows have a label the models know; "
            "a comparison needs at least 2"
        )
    comparison = paired_bootstrap(
        y[keep],
        outputs[0][keep],
        outputs[1][keep],
        metric or version_metric(second),
        task=task,
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
    )
    return comparison, {"unknown_labels": int((~keep).sum())}


def _outputs(
    loaded: LoadedModel, inputs: pd.DataFrame, classes: Sequence[Any] | None
) -> NDArray[np.float64]:
    """Predicted values, or class probabilities in ``classes`` order (binary: the positive)."""
    if classes is None:
        return np.asarray(loaded.predict(inputs), dtype=np.float64)
    proba = np.asarray(loaded.predict_proba(inputs), dtype=np.float64)
    own = [_key(c) for c in (loaded.classes or classes)]
    try:
        order = [own.index(_key(c)) for c in classes]
    except ValueError:
        raise ValidationError(
            f"the two versions know different classes ({list(loaded.classes or [])} and "
            f"{list(classes)}); they cannot be compared"
        ) from None
    proba = proba[:, order]
    return proba[:, 1] if proba.shape[1] == 2 else proba


def _targets(
    labels: pd.Series, classes: Sequence[Any] | None
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Labels as numbers (class codes for classifiers) and which rows have a usable one."""
    if classes is None:
        values = pd.to_numeric(labels, errors="coerce").to_numpy(dtype=np.float64)
        return values, np.isfinite(values)
    index = {_key(c): code for code, c in enumerate(classes)}
    codes = np.array([index.get(_key(v), -1) for v in labels], dtype=np.float64)
    return codes, codes >= 0


def _key(value: Any) -> str:
    """One text per class label, so ``1``, ``1.0`` and ``"1"`` find each other."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.generic):
        return str(value.item())
    return str(value)

"""The model modelcycle trains: fitted preprocessing plus a weighted ensemble of learners.

It predicts from rows (dicts), columns or a DataFrame with NumPy only — no pandas
on the serving path — and saves as data: preprocessors as JSON, learners in their
own safe formats, and ``pipeline.json`` tying them together.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelcycle.core import Task, ValidationError
from modelcycle.features import Preprocessor
from modelcycle.learners import Learner
from modelcycle.packaging._paths import check_package_path

_FILE = "pipeline.json"


@dataclass(frozen=True)
class Member:
    """One learner of the ensemble, the preprocessor that feeds it, and its weight."""

    learner: Learner
    preprocessor: str
    weight: float


class ModelPipeline:
    """Preprocessors and weighted learners that together map raw inputs to predictions.

    Parameters
    ----------
    task:
        Binary, multiclass or regression.
    preprocessors:
        Fitted preprocessors by key (learners with the same needs share one).
    members:
        The learners with their preprocessor keys and ensemble weights (summing to 1).
    classes:
        Class labels, in the order of ``predict_proba``'s columns (classifiers only).
    """

    def __init__(
        self,
        *,
        task: Task,
        preprocessors: dict[str, Preprocessor],
        members: Sequence[Member],
        classes: Sequence[Any] | None = None,
    ) -> None:
        if not members:
            raise ValidationError("a model pipeline needs at least one learner")
        unknown = {m.preprocessor for m in members} - preprocessors.keys()
        if unknown:
            raise ValidationError(
                f"pipeline members refer to unknown preprocessors {sorted(unknown)}"
            )
        self.task = task
        self.preprocessors = dict(preprocessors)
        self.members = list(members)
        self.classes_ = list(classes) if classes is not None else None

    @property
    def input_names(self) -> list[str]:
        """Raw input columns the pipeline reads."""
        names: list[str] = []
        for pre in self.preprocessors.values():
            names += [n for n in pre.feature_names_in_ if n not in names]
        return names

    def _matrices(self, data: Any) -> dict[str, NDArray[np.float64]]:
        return {key: pre.transform(data) for key, pre in self.preprocessors.items()}

    def predict_proba(self, data: Any) -> NDArray[np.float64]:
        """Weighted average of the members' class probabilities."""
        if self.task is Task.REGRESSION:
            raise TypeError("a regression pipeline gives no class probabilities")
        matrices = self._matrices(data)
        total: NDArray[np.float64] | None = None
        for member in self.members:
            proba = member.weight * member.learner.predict_proba(matrices[member.preprocessor])
            total = proba if total is None else total + proba
        assert total is not None
        return total

    def predict_codes(self, data: Any) -> NDArray[Any]:
        """Class codes (classifiers) or values (regression)."""
        if self.task is Task.REGRESSION:
            return self.predict_values(data)
        return np.asarray(self.predict_proba(data).argmax(axis=1))

    def predict_values(self, data: Any) -> NDArray[np.float64]:
        """Weighted average of the members' predictions (regression)."""
        matrices = self._matrices(data)
        total = np.zeros(0)
        for index, member in enumerate(self.members):
            values = member.weight * np.asarray(
                member.learner.predict(matrices[member.preprocessor]), float
            )
            total = values if index == 0 else total + values
        return total

    def predict(self, data: Any) -> NDArray[Any]:
        """Class labels (classifiers) or values (regression)."""
        codes = self.predict_codes(data)
        if self.task is Task.REGRESSION or self.classes_ is None:
            return codes
        labels: NDArray[Any] = np.asarray(self.classes_, dtype=object)
        return np.asarray(labels[codes])

    def contributions(self, data: Any) -> tuple[NDArray[np.float64], list[str]] | None:
        """Per-feature contributions of the heaviest member that has them, with feature names."""
        matrices = self._matrices(data)
        for member in sorted(self.members, key=lambda m: -m.weight):
            try:
                values = member.learner.contributions(matrices[member.preprocessor])
            except NotImplementedError:
                continue
            names = list(self.preprocessors[member.preprocessor].feature_names_)
            return values, names
        return None

    # -- persistence -------------------------------------------------------------

    def save(self, folder: str | Path) -> None:
        """Write ``pipeline.json``, ``preprocessors/<key>.json`` and ``learners/<i>/``."""
        root = Path(folder)
        (root / "preprocessors").mkdir(parents=True, exist_ok=True)
        for key, pre in self.preprocessors.items():
            pre.save(root / "preprocessors" / f"{key}.json")
        members = []
        for index, member in enumerate(self.members):
            member.learner.save(root / "learners" / str(index))
            members.append(
                {
                    "learner": str(index),
                    "preprocessor": member.preprocessor,
                    "weight": member.weight,
                }
            )
        meta = {"task": self.task.value, "classes": _json_list(self.classes_), "members": members,
                "preprocessors": sorted(self.preprocessors)}  # fmt: skip
        (root / _FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))

    @classmethod
    def load(cls, folder: str | Path) -> ModelPipeline:
        """Read a pipeline written by :meth:`save` (files verified by the package first)."""
        root = Path(folder)
        meta = json.loads((root / _FILE).read_text())
        preprocessors = {
            key: Preprocessor.load(root / _inside(f"preprocessors/{key}.json"))
            for key in meta["preprocessors"]
        }
        members = [
            Member(
                Learner.load(root / _inside(f"learners/{m['learner']}")),
                m["preprocessor"],
                float(m["weight"]),
            )
            for m in meta["members"]
        ]
        return cls(
            task=Task(meta["task"]),
            preprocessors=preprocessors,
            members=members,
            classes=meta["classes"],
        )


def _inside(name: str) -> str:
    """A folder or file name from ``pipeline.json``, refused unless it stays in the package."""
    return check_package_path(name, _FILE)


def _json_list(values: Sequence[Any] | None) -> list[Any] | None:
    if values is None:
        return None
    return [v.item() if isinstance(v, np.generic) else v for v in values]

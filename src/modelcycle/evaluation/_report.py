"""The evaluation report: every holdout finding in one value, as JSON and as HTML."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelcycle.core import Task, ValidationError
from modelcycle.evaluation._classification import (
    BinaryCurves,
    Calibration,
    ConfusionMatrix,
    ThresholdChoice,
)
from modelcycle.evaluation._importance import ContributionSummary, PermutationImportance
from modelcycle.evaluation._inputs import check_task
from modelcycle.evaluation._regression import Residuals
from modelcycle.evaluation._serial import jsonable, number
from modelcycle.evaluation._slices import Slice
from modelcycle.reports import notebook_frame

#: Version of the JSON layout written by :meth:`EvaluationReport.to_dict`.
FORMAT = "modelcycle.evaluation/1"
#: File names :meth:`EvaluationReport.artifacts` stores the report under.
JSON_NAME, HTML_NAME = "evaluation.json", "evaluation.html"

_PARTS: Mapping[str, Any] = {
    "confusion": ConfusionMatrix,
    "calibration": Calibration,
    "thresholds": ThresholdChoice,
    "curves": BinaryCurves,
    "residuals": Residuals,
    "importance": PermutationImportance,
    "contributions": ContributionSummary,
}


@dataclass(frozen=True, slots=True)
class EvaluationReport:
    """What evaluation found on a holdout set; build one with :func:`build_report`.

    Every part but ``task`` and ``metrics`` is optional: a part not computed is
    ``None`` or empty and its section is left out of the HTML. ``intervals`` maps
    metric names to ``(low, high)`` bounds at ``confidence`` from ``n_boot``
    resamples; ``notes`` are sentences for the reader (the caller's and the
    warnings of :func:`build_report`); ``leaderboard`` rows and ``dataset`` facts
    are JSON-ready mappings shown as given.

    Examples
    --------
    >>> report = EvaluationReport(task=Task.REGRESSION, metrics={"rmse": 1.5})
    >>> EvaluationReport.from_json(report.to_json()) == report
    True
    >>> sorted(report.artifacts())
    ['evaluation.html', 'evaluation.json']
    """

    task: Task
    metrics: Mapping[str, float]
    intervals: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    confidence: float = 0.95
    n_boot: int = 0
    class_labels: tuple[str, ...] = ()
    confusion: ConfusionMatrix | None = None
    calibration: Calibration | None = None
    thresholds: ThresholdChoice | None = None
    curves: BinaryCurves | None = None
    residuals: Residuals | None = None
    slices: tuple[Slice, ...] = ()
    importance: PermutationImportance | None = None
    contributions: ContributionSummary | None = None
    leaderboard: tuple[Mapping[str, Any], ...] = ()
    dataset: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    title: str = "Evaluation report"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (NaN and infinities become ``None``)."""
        data: dict[str, Any] = {
            "format": FORMAT,
            "title": self.title,
            "task": self.task.value,
            "metrics": jsonable(self.metrics),
            "intervals": jsonable(self.intervals),
            "confidence": self.confidence,
            "n_boot": self.n_boot,
            "class_labels": list(self.class_labels),
        }
        for name in _PARTS:
            part = getattr(self, name)
            data[name] = None if part is None else part.to_dict()
        data["slices"] = [s.to_dict() for s in self.slices]
        data["leaderboard"] = jsonable(self.leaderboard)
        data["dataset"] = jsonable(self.dataset)
        data["notes"] = list(self.notes)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvaluationReport:
        """Build a report from :meth:`to_dict` output."""
        if data.get("format") != FORMAT:
            raise ValidationError(
                f"evaluation report has format {data.get('format')!r}; expected {FORMAT!r}"
            )
        parts = {
            name: None if data.get(name) is None else kind.from_dict(data[name])
            for name, kind in _PARTS.items()
        }
        return cls(
            task=check_task(data["task"]),
            metrics={str(k): number(v) for k, v in data["metrics"].items()},
            intervals={str(k): (number(v[0]), number(v[1])) for k, v in data["intervals"].items()},
            confidence=float(data["confidence"]),
            n_boot=int(data["n_boot"]),
            class_labels=tuple(str(c) for c in data["class_labels"]),
            slices=tuple(Slice.from_dict(s) for s in data["slices"]),
            leaderboard=tuple(dict(row) for row in data["leaderboard"]),
            dataset=dict(data["dataset"]),
            notes=tuple(str(n) for n in data["notes"]),
            title=str(data["title"]),
            **parts,
        )

    def to_json(self, *, indent: int | None = 2) -> str:
        """Return the report as strict JSON text (no NaN)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> EvaluationReport:
        """Build a report from :meth:`to_json` output."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"evaluation report is not valid JSON: {exc}") from exc
        return cls.from_dict(data)

    def to_html(self, *, plotly_js_src: str | None = None) -> str:
        """Return the report as one self-contained HTML page (plotly.js inlined once).

        ``plotly_js_src`` instead links plotly.js from that URL, for pages served
        next to a copy of it (the dashboard); the page is then ~50 KB, not ~5 MB.
        """
        from modelcycle.evaluation._html import render  # plotly is imported only to render

        return render(self, plotly_js_src=plotly_js_src)

    def _repr_html_(self) -> str:
        """The report inline in Jupyter (in a frame, so its styles stay its own)."""
        return notebook_frame(self.to_html())

    def artifacts(self) -> dict[str, str]:
        """The report as run artifacts: ``{file name: text}`` for JSON and HTML.

        Store them with a run, e.g. ``for name, text in report.artifacts().items():
        run.log_text(text, f"evaluation/{name}")``.
        """
        return {JSON_NAME: self.to_json(), HTML_NAME: self.to_html()}

    def write(self, directory: str | Path) -> list[Path]:
        """Write :meth:`artifacts` into ``directory`` (created if needed); return the paths."""
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, text in self.artifacts().items():
            path = folder / name
            path.write_text(text, encoding="utf-8")
            paths.append(path)
        return paths

"""What a monitoring pass reads (:class:`MonitorWindow`) and finds (:class:`MonitorReport`)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelcycle.core import ValidationError
from modelcycle.monitoring._alerts import Alert, RuleCheck
from modelcycle.monitoring._health import VersionHealth
from modelcycle.monitoring._html import render
from modelcycle.monitoring.drift import DriftReport
from modelcycle.reports import PLOTLY_FILE, notebook_frame, write_assets
from modelcycle.store import write_private


@dataclass(frozen=True)
class MonitorWindow:
    """Which logged rows a monitoring pass reads.

    Parameters
    ----------
    last_rows:
        The latest rows of the monitored version (and the latest labelled rows); ``None``
        for every row in the time range.
    since, until:
        Rows logged at or after ``since`` and before ``until`` (aware datetimes or UTC).
    hours:
        Shorthand for ``since = now - hours``.
    sample_rows:
        Most rows of the monitored version decoded for drift and estimated performance:
        a larger window is read as a seeded uniform sample of this many rows (the same
        rows on every pass over the same window). Realized performance and service
        health always use every row. ``None`` decodes the whole window.

    Examples
    --------
    >>> MonitorWindow().description
    'last 5000 rows'
    >>> MonitorWindow(last_rows=None, hours=24).description
    'last 24 h'
    """

    last_rows: int | None = 5000
    since: datetime | None = None
    until: datetime | None = None
    hours: float | None = None
    sample_rows: int | None = 1_000_000

    def __post_init__(self) -> None:
        for name in ("last_rows", "sample_rows"):
            rows = getattr(self, name)
            if rows is not None and (
                isinstance(rows, bool) or not isinstance(rows, int) or rows < 1
            ):
                raise ValidationError(f"window {name} is {rows!r}; expected a whole number >= 1")
        if self.hours is not None:
            if isinstance(self.hours, bool) or not (
                isinstance(self.hours, int | float) and 0 < self.hours < math.inf
            ):
                raise ValidationError(f"window hours is {self.hours!r}; expected a number > 0")
            if self.since is not None:
                raise ValidationError("window: pass since or hours, not both")
        start, end = self.bounds(datetime.now(UTC))
        if start is not None and end is not None and start >= end:
            raise ValidationError(f"window since {start} is not before until {end}")

    def bounds(self, now: datetime) -> tuple[datetime | None, datetime | None]:
        """``(since, until)`` as aware UTC datetimes (``hours`` counted back from ``now``)."""
        since = now - timedelta(hours=self.hours) if self.hours is not None else self.since
        return _utc(since), _utc(self.until)

    @property
    def description(self) -> str:
        """The window in words, for reports."""
        parts = [f"last {self.last_rows} rows"] if self.last_rows is not None else []
        if self.hours is not None:
            parts.append(f"last {self.hours:g} h")
        if self.since is not None:
            parts.append(f"since {_utc(self.since):%Y-%m-%d %H:%M} UTC")
        if self.until is not None:
            parts.append(f"until {_utc(self.until):%Y-%m-%d %H:%M} UTC")
        return ", ".join(parts) or "every logged row"


@dataclass(frozen=True, eq=False)
class MonitorReport:
    """The result of :func:`monitor`.

    Attributes
    ----------
    model, version, ref:
        The monitored model and version (``ref`` as ``name/version``).
    task, metric:
        The model's task and the metric tracked for it.
    window:
        The window in words.
    rows:
        Rows of the monitored version in the window.
    drift:
        Drift of those rows against the training profile, or ``None`` (see ``notes``).
    realized, realized_summary:
        Realized performance over time of every version (``version, start, end, rows,
        metric, value``) and per version over the labelled window.
    estimated:
        CBPE-estimated performance over time of the version, or ``None``.
    health, latency:
        Service health per version, and latency and errors per time bucket.
    importance:
        The version's permutation importance (feature → score loss).
    metrics:
        The flat metrics alert rules read.
    alerts, checks, delivery:
        The alerts fired, every rule's outcome, and the delivery summary.
    notes:
        What could not be computed, and why.
    """

    model: str
    version: int | None
    ref: str | None
    task: str | None
    metric: str | None
    window: str
    rows: int
    drift: DriftReport | None
    realized: pd.DataFrame
    realized_summary: dict[int, dict[str, Any]]
    estimated: pd.DataFrame | None
    health: list[VersionHealth]
    latency: pd.DataFrame
    importance: dict[str, float]
    metrics: dict[str, float]
    alerts: list[Alert] = field(default_factory=list)
    checks: list[RuleCheck] = field(default_factory=list)
    delivery: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    created: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def status(self) -> str:
        """``"no data"``, ``"alerts"`` (some rule fired) or ``"ok"``."""
        if self.rows == 0 and not self.health:
            return "no data"
        return "alerts" if self.alerts else "ok"

    def health_of(self, version: int | None = None) -> VersionHealth | None:
        """Health of ``version`` (default: the monitored one) in the window."""
        wanted = self.version if version is None else version
        return next((h for h in self.health if h.version == wanted), None)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (times as ISO 8601; NaN and infinity as ``None``)."""
        data = {
            "model": self.model,
            "version": self.version,
            "ref": self.ref,
            "task": self.task,
            "metric": self.metric,
            "window": self.window,
            "status": self.status,
            "created": self.created.isoformat(),
            "rows": self.rows,
            "metrics": dict(self.metrics),
            "drift": self.drift.to_dict() if self.drift is not None else None,
            "realized": _records(self.realized),
            "realized_summary": {str(k): v for k, v in self.realized_summary.items()},
            "estimated": _records(self.estimated) if self.estimated is not None else None,
            "health": [h.to_dict() for h in self.health],
            "latency": _records(self.latency),
            "importance": dict(self.importance),
            "alerts": [a.to_dict() for a in self.alerts],
            "checks": [c.to_dict() for c in self.checks],
            "delivery": self.delivery,
            "notes": list(self.notes),
        }
        return dict(_clean(data))

    def to_json(self) -> str:
        """The report as indented JSON text (strict: no NaN)."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)

    def to_html(self, *, plotly_js_src: str | None = None) -> str:
        """One self-contained HTML page (plotly.js inlined unless ``plotly_js_src``)."""
        return render(self, plotly_js_src=plotly_js_src)

    def _repr_html_(self) -> str:
        """The report inline in Jupyter (in a frame, so its styles stay its own)."""
        return notebook_frame(self.to_html())

    def save(self, folder: Path | str, *copies: Path | str) -> dict[str, Path]:
        """Write ``monitor.html`` and ``monitor.json`` into ``folder`` (and each of ``copies``).

        The page is rendered once, whatever the number of folders, and links
        ``plotly.min.js``, written once into each folder beside it (a page saved every
        few minutes does not carry 5 MB each time; :meth:`to_html` gives a page that
        stands alone). Each file is written under a temporary name and renamed, so a
        reader (the server's ``GET /v1/models/{name}/monitoring``) sees the previous
        pass or this one, never half of a file. Returns the paths in ``folder``.
        """
        texts = {"html": self.to_html(plotly_js_src=PLOTLY_FILE), "json": self.to_json() + "\n"}
        saved: list[dict[str, Path]] = []
        for target in (Path(folder), *map(Path, copies)):
            paths = {kind: target / f"monitor.{kind}" for kind in texts}
            for kind, path in paths.items():
                write_private(path, texts[kind])  # folder 0700, file 0600, renamed into place
            write_assets(target)
            saved.append(paths)
        return saved[0]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): _value(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _value(value: Any) -> Any:
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        return float(value) if math.isfinite(value) else None
    return value


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return _value(value)


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

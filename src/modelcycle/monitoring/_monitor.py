"""One monitoring pass over a model: drift, performance, service health and alerts.

:func:`monitor` reads a window of the prediction log and compares the monitored
version with its reference (:func:`load_reference`): data and prediction drift on
that version's rows; realized performance (delayed labels) and service health for
every version of the model; CBPE-estimated performance of the version when it is a
classifier with holdout predictions. It flattens the results into ``metrics`` (the
names alert rules use, see :mod:`modelcycle.monitoring._rules`), evaluates the rules
and lists the alerts that fired (:func:`~modelcycle.monitoring.run_monitoring` saves the
report and delivers them). It never fails on missing data: an empty
log, a window too small for drift or a model without labels give notes instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from modelcycle.core import NotFound, Task, ValidationError
from modelcycle.evaluation import METRICS
from modelcycle.monitoring._alerts import check_rules, feature_metric
from modelcycle.monitoring._cbpe import CBPE, ESTIMABLE, estimated_performance
from modelcycle.monitoring._health import VersionHealth, health_and_latency
from modelcycle.monitoring._labels import read_labelled
from modelcycle.monitoring._logread import probability_matrix, read_predictions
from modelcycle.monitoring._monitor_report import MonitorReport, MonitorWindow
from modelcycle.monitoring._performance import class_key, realized_performance, summarize_realized
from modelcycle.monitoring._reference import VersionReference, load_reference
from modelcycle.monitoring._rules import AlertRule
from modelcycle.monitoring.drift import DriftReport, drift_report

if TYPE_CHECKING:
    from modelcycle.registry import Registry
    from modelcycle.services import Services
    from modelcycle.store import LogLayout

#: Fewest rows of the monitored version for a drift report.
MIN_DRIFT_ROWS = 30
_PREDICTION = "prediction"
_FREQUENCIES = ("1s", "5s", "15s", "1min", "5min", "15min", "1h", "6h", "1D")
_POINTS = 40


def monitor(
    services: Services,
    model: str,
    *,
    ref: str | None = None,
    window: MonitorWindow | None = None,
    rules: Iterable[AlertRule] = (),
    bucket_rows: int | None = None,
    alpha: float = 0.05,
    reader: Callable[..., pd.DataFrame] = read_predictions,
) -> MonitorReport:
    """Monitor a model version on a window of its prediction log and evaluate alert rules.

    The report lists the alerts that fired; :func:`run_monitoring` also saves it and
    delivers them.

    Parameters
    ----------
    services:
        The workspace's services (``ws.services``): its registry, runs and log layout.
    model:
        The model name.
    ref:
        The version to monitor (``name/3``, ``name@alias``); default ``<model>@champion``,
        else the latest version.
    window:
        Which rows to read (default: the latest 5000 rows).
    rules:
        Alert rules to evaluate.
    bucket_rows:
        Rows per bucket of the performance-over-time series (default: about ten).
    alpha:
        Significance level of the drift tests.
    reader:
        What reads the window of the monitored version: :func:`read_predictions` (in this
        process) or anything taking its arguments and returning its frame, such as
        :class:`modelcycle.distributed.ClusterLogReader` (on a Dask cluster).

    Returns
    -------
    MonitorReport

    Raises
    ------
    NotFound
        The model has no versions, or ``ref`` names none.
    ValidationError
        ``ref`` names another model, or an argument is out of range.
    """
    window = window or MonitorWindow()
    rules = list(rules)
    reference = load_reference(services, _resolve(services.registry, model, ref))
    since, until = window.bounds(datetime.now(UTC))
    scope = _Scope(services.layout, model, reference, window, since, until)
    notes: list[str] = []
    frame = reader(
        services.layout,
        model,
        signature=reference.signature,
        versions=[reference.version],
        last_rows=window.last_rows,
        since=since,
        until=until,
        sample_rows=window.sample_rows,
    )
    health, latency = health_and_latency(
        services.layout, model, freq=_chart_width, since=since, until=until,
        last_rows=window.last_rows,
    )  # fmt: skip
    _note_sample(frame, health, reference.version, window, notes)
    drift = _drift(frame, reference, alpha, notes)
    realized, summary = _realized(scope, rules, bucket_rows, notes)
    estimated, estimates = _estimated(frame, reference, rules, bucket_rows, notes)
    report = MonitorReport(
        model=model,
        version=reference.version,
        ref=f"{reference.name}/{reference.version}",
        task=reference.task.value,
        metric=reference.metric,
        window=window.description,
        rows=len(frame),
        drift=drift,
        realized=realized,
        realized_summary={
            v: s[reference.metric] for v, s in summary.items() if reference.metric in s
        },
        estimated=estimated,
        health=health,
        latency=latency,
        importance=dict(reference.importance),
        metrics={},
        notes=notes,
    )
    _note_empty(report, notes)
    report = replace(report, metrics=flat_metrics(report, summary, estimates))
    checks = check_rules(rules, report)
    alerts = [c.alert for c in checks if c.alert is not None]
    return replace(report, alerts=alerts, checks=checks)


@dataclass(frozen=True)
class _Scope:
    layout: LogLayout
    model: str
    reference: VersionReference
    window: MonitorWindow
    since: datetime | None
    until: datetime | None


def _resolve(registry: Registry, model: str, ref: str | None) -> str:
    if ref is not None:
        version = registry.resolve(ref)
        if version.name != model:
            raise ValidationError(
                f"reference {ref!r} names model {version.name!r}, not {model!r}; "
                f"pass a version of {model!r} such as '{model}/1' or '{model}@champion'"
            )
        return version.ref
    try:
        return registry.resolve(f"{model}@champion").ref
    except NotFound:
        versions = registry.versions(model)
        if not versions:
            raise NotFound(
                f"model {model!r} has no versions to monitor; register one first"
            ) from None
        return versions[0].ref


def _drift(
    frame: pd.DataFrame, reference: VersionReference, alpha: float, notes: list[str]
) -> DriftReport | None:
    if reference.profile is None:
        notes.append(
            f"drift skipped: version {reference.version} has no training profile "
            "(models logged without profile.json)"
        )
        return None
    if len(frame) < MIN_DRIFT_ROWS:
        if len(frame):
            notes.append(
                f"drift skipped: {len(frame)} rows of version {reference.version} in the window; "
                f"at least {MIN_DRIFT_ROWS} are needed"
            )
        return None
    columns = {
        name: frame[f"inputs.{name}" if f"inputs.{name}" in frame.columns else name]
        for name in reference.signature.names
    }
    name = _PREDICTION if _PREDICTION not in columns else "model prediction"
    predicted = prediction_values(frame, reference)
    if predicted is not None:
        columns[name] = predicted[0]
    window = pd.DataFrame(columns)
    return drift_report(
        reference.profile,
        window,
        alpha=alpha,
        prediction=name,
        prediction_reference=predicted[1] if predicted is not None else None,
    )


def prediction_values(
    frame: pd.DataFrame, reference: VersionReference
) -> tuple[pd.Series, np.ndarray] | None:
    """The window's predictions and the holdout's, in one comparable form (or ``None``).

    Regression: the predicted values. Binary: the positive-class probability.
    Multiclass: the predicted class (as text).
    """
    holdout = reference.holdout
    if holdout is None or not len(holdout):
        return None
    if reference.task is Task.REGRESSION:
        if _PREDICTION not in holdout.columns:
            return None
        served = pd.to_numeric(frame["prediction"], errors="coerce")
        return served.reset_index(drop=True), holdout[_PREDICTION].to_numpy(dtype=float)
    columns = sorted((c for c in holdout if str(c).startswith("proba_")), key=lambda c: int(c[6:]))
    if len(columns) < 2:
        return None
    expected = holdout[columns].to_numpy(dtype=float)
    served = probability_matrix(frame["probabilities"], len(columns))
    if reference.task is Task.BINARY:
        return pd.Series(served[:, 1]), expected[:, 1]
    classes = [class_key(c) for c in reference.classes or range(len(columns))]
    chosen = np.where(np.isfinite(served).all(axis=1), served.argmax(axis=1), -1)
    labels = [classes[i] if i >= 0 else None for i in chosen]
    return pd.Series(labels, dtype="object"), np.array([classes[i] for i in expected.argmax(1)])


def _note_sample(
    frame: pd.DataFrame,
    health: list[VersionHealth],
    version: int,
    window: MonitorWindow,
    notes: list[str],
) -> None:
    """Say so when drift and estimates ran on a sample of a larger window."""
    logged = sum(h.rows for h in health if h.version == version)
    if window.sample_rows is not None and len(frame) == window.sample_rows < logged:
        notes.append(
            f"drift and estimated performance use a seeded sample of {len(frame):,} of the "
            f"window's {logged:,} rows; realized performance and health use every row"
        )


def _realized(
    scope: _Scope, rules: list[AlertRule], bucket_rows: int | None, notes: list[str]
) -> tuple[pd.DataFrame, dict[int, dict[str, dict[str, Any]]]]:
    reference = scope.reference
    labelled = read_labelled(
        scope.layout,
        scope.model,
        signature=reference.signature,
        last_rows=scope.window.last_rows,
        since=scope.since,
        until=scope.until,
        inputs=False,  # realized performance reads labels and predictions only
    )
    task, classes = reference.task, reference.classes
    over_time = realized_performance(
        labelled, task=task, classes=classes, metric=reference.metric, bucket_rows=bucket_rows
    )
    summary: dict[int, dict[str, dict[str, Any]]] = {}
    for name in _wanted(rules, "realized", reference.metric, METRICS[reference.task]):
        for version, values in summarize_realized(
            labelled, task=task, classes=classes, metric=name
        ).items():
            summary.setdefault(version, {})[name] = values
    if not len(labelled):
        notes.append("realized performance: no labelled predictions in the window yet")
    return over_time, summary


def _estimated(
    frame: pd.DataFrame,
    reference: VersionReference,
    rules: list[AlertRule],
    bucket_rows: int | None,
    notes: list[str],
) -> tuple[pd.DataFrame | None, dict[str, float]]:
    if reference.task is Task.REGRESSION:
        return None, {}
    cbpe = CBPE.from_reference(reference)
    if cbpe is None:
        notes.append(
            f"estimated performance skipped: version {reference.version} has no holdout "
            "predictions to calibrate CBPE on"
        )
        return None, {}
    metric = reference.metric if reference.metric in ESTIMABLE else "accuracy"  # a user's choice
    over_time = estimated_performance(frame, cbpe, bucket_rows=bucket_rows, metric=metric)
    proba = probability_matrix(frame["probabilities"], cbpe.n_classes_)
    proba = proba[np.isfinite(proba).all(axis=1)]
    wanted = _wanted(rules, "estimated", metric, ESTIMABLE)
    return over_time, cbpe.estimate(proba, metrics=wanted) if len(proba) else {}


def _wanted(rules: list[AlertRule], family: str, primary: str, allowed: Iterable[str]) -> list[str]:
    known = set(allowed)
    named = [r.metric.partition(".")[2] for r in rules if r.metric.startswith(f"{family}.")]
    return list(dict.fromkeys(m for m in [primary, *named] if m in known))


def _chart_width(health: list[VersionHealth]) -> str:
    """The latency chart's bucket: the shortest giving about :data:`_POINTS` over the span."""
    span = max(h.last for h in health) - min(h.first for h in health) if health else timedelta()
    return next((f for f in _FREQUENCIES if pd.Timedelta(f) * _POINTS >= span), _FREQUENCIES[-1])


def _note_empty(report: MonitorReport, notes: list[str]) -> None:
    if report.rows:
        return
    if not report.health:
        notes.insert(0, f"no predictions logged yet for model {report.model!r} in the window")
        return
    seen = ", ".join(str(h.version) for h in report.health)
    notes.insert(
        0,
        f"no predictions from version {report.version} in the window (versions seen: {seen})",
    )


def flat_metrics(
    report: MonitorReport,
    realized: dict[int, dict[str, dict[str, Any]]],
    estimated: dict[str, float],
) -> dict[str, float]:
    """The flat metrics of a report, as alert rules name them (finite values only)."""
    metrics: dict[str, float] = {"rows": float(report.rows)}
    if report.drift is not None:
        for name in ("psi", "drift.share", "drift.detected"):
            found = feature_metric(report.drift, name, report.importance)
            if found is not None:
                metrics[name] = found.value
        prediction = report.drift.prediction
        if prediction is not None:
            metrics["prediction.drifted"] = float(prediction.drifted)
            if any(r.detector == "psi" for r in prediction.results):
                metrics["prediction.psi"] = prediction["psi"].statistic
    mine = realized.get(report.version or -1, {})
    metrics["labelled_rows"] = float(next(iter(mine.values()), {}).get("rows", 0))
    for name, values in mine.items():
        metrics[f"realized.{name}"] = values["value"]
    metrics.update({f"estimated.{name}": value for name, value in estimated.items()})
    health = report.health_of()
    if health is not None:
        metrics["requests"] = float(health.requests)
        metrics["error_rate"] = health.error_rate
        metrics["throughput_rps"] = health.throughput_rps
        for name in ("p50_ms", "p95_ms", "p99_ms"):
            metrics[f"latency.{name}"] = getattr(health, name)
    return {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(v)}

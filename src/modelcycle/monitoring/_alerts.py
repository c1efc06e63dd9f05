"""Evaluating alert rules on a monitoring report: the alerts they fire, and why.

A rule (:class:`~modelcycle.monitoring.AlertRule`) is checked against a report's flat
metrics; the per-feature ones (``psi``, ``drift.share``, ``drift.detected``) are
recomputed from its drift report over the rule's ``top_features``, so the alert can
name the offending features, e.g. ``PSI 0.34 > 0.2 on feature 'income' (top-10 feature)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from modelcycle.monitoring._rules import FEATURE_METRICS, AlertRule, Op, Severity, support_metric
from modelcycle.monitoring.drift import DriftReport

State = Literal["ok", "fired", "insufficient data", "unavailable"]
_SHOWN_FEATURES = 5


@dataclass(frozen=True)
class Alert:
    """A rule that fired on one model version.

    ``features`` names the offending features of a per-feature metric, worst first.
    """

    model: str
    version: int | None
    rule: str
    severity: Severity
    metric: str
    op: Op
    value: float
    threshold: float
    message: str
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    features: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """One line for a chat message or a log: severity, model and message."""
        version = f" version {self.version}" if self.version is not None else ""
        return f"[{self.severity}] model {self.model!r}{version}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (the body a webhook receives)."""
        return {
            "model": self.model,
            "version": self.version,
            "rule": self.rule,
            "severity": self.severity,
            "metric": self.metric,
            "op": self.op,
            "value": _finite(self.value),
            "threshold": self.threshold,
            "message": self.message,
            "features": list(self.features),
            "time": self.time.isoformat(),
            "text": self.text,
        }


class Observed(Protocol):
    """What rules read from a report."""

    @property
    def model(self) -> str: ...
    @property
    def version(self) -> int | None: ...
    @property
    def metrics(self) -> Mapping[str, float]: ...
    @property
    def drift(self) -> DriftReport | None: ...
    @property
    def importance(self) -> Mapping[str, float]: ...


@dataclass(frozen=True)
class RuleCheck:
    """The outcome of one rule on one report: ``state`` and, when it fired, the alert."""

    rule: AlertRule
    state: State
    value: float | None = None
    rows: int | None = None
    alert: Alert | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "rule": self.rule.to_dict(),
            "state": self.state,
            "value": _finite(self.value),
            "rows": self.rows,
            "detail": self.detail,
        }


def check_rules(rules: Iterable[AlertRule], report: Observed) -> list[RuleCheck]:
    """Evaluate every rule on ``report``, keeping the state of those that did not fire."""
    return [_check(rule, report) for rule in rules]


def evaluate(rules: Iterable[AlertRule], report: Observed) -> list[Alert]:
    """The alerts fired by ``rules`` on ``report``.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> report = SimpleNamespace(model="churn", version=2, drift=None, importance={},
    ...                          metrics={"error_rate": 0.12, "requests": 500.0})
    >>> [a.message for a in evaluate([AlertRule.parse("error_rate > 0.05")], report)]
    ['error_rate 0.12 > 0.05 (on 500 requests)']
    """
    return [check.alert for check in check_rules(rules, report) if check.alert is not None]


@dataclass(frozen=True)
class FeatureValue:
    """A per-feature metric on a report: the value and the features behind it."""

    value: float
    features: tuple[tuple[str, float], ...]
    considered: int
    note: str = ""


def feature_metric(
    drift: DriftReport, metric: str, importance: Mapping[str, float], top: int | None = None
) -> FeatureValue | None:
    """``psi``, ``drift.share`` or ``drift.detected`` over the considered features.

    ``features`` lists (name, PSI) for ``psi`` and the drifted features (with their
    PSI, or NaN for a categorical one) for the others, worst first. ``None`` when no
    feature gives the metric (``psi`` without a numeric feature).
    """
    columns, note = _considered(drift, importance, top)
    psi = {c.name: _psi(c) for c in columns}
    if metric == "psi":
        numeric = sorted(((n, v) for n, v in psi.items() if not math.isnan(v)), key=_by_value)
        if not numeric:
            return None
        return FeatureValue(numeric[0][1], tuple(numeric), len(columns), note)
    drifted = sorted(((c.name, psi[c.name]) for c in columns if c.drifted), key=_by_value)
    if metric == "drift.share":
        share = len(drifted) / len(columns) if columns else 0.0
        return FeatureValue(share, tuple(drifted), len(columns), note)
    whole = drift.drifted if top is None else bool(drifted)
    return FeatureValue(float(whole), tuple(drifted), len(columns), note)


def _check(rule: AlertRule, report: Observed) -> RuleCheck:
    rows = _rows(report.metrics, rule.metric)
    if rows is not None and rows < rule.min_rows:
        detail = (
            f"{rows} {support_metric(rule.metric).replace('_', ' ')} < min_rows {rule.min_rows}"
        )
        return RuleCheck(rule, "insufficient data", rows=rows, detail=detail)
    observed = _observe(rule, report)
    if observed is None:
        return RuleCheck(rule, "unavailable", rows=rows, detail=f"no {rule.metric} in the report")
    if not rule.holds(observed.value):
        return RuleCheck(rule, "ok", observed.value, rows)
    offending = _offending(rule, observed)
    alert = Alert(
        model=report.model,
        version=report.version,
        rule=rule.name,
        severity=rule.severity,
        metric=rule.metric,
        op=rule.op,
        value=observed.value,
        threshold=rule.threshold,
        message=_message(rule, observed, offending, rows),
        features=tuple(name for name, _ in offending),
    )
    return RuleCheck(rule, "fired", observed.value, rows, alert)


def _observe(rule: AlertRule, report: Observed) -> FeatureValue | None:
    if rule.metric in FEATURE_METRICS and rule.top_features is not None:
        if report.drift is None:
            return None
        return feature_metric(report.drift, rule.metric, report.importance, rule.top_features)
    if rule.metric in FEATURE_METRICS and report.drift is not None:
        found = feature_metric(report.drift, rule.metric, report.importance)
        if found is not None:
            return found
    value = report.metrics.get(rule.metric)
    if value is None or math.isnan(value):
        return None
    return FeatureValue(float(value), (), 0)


def _offending(rule: AlertRule, observed: FeatureValue) -> list[tuple[str, float]]:
    if rule.metric != "psi":
        return list(observed.features)
    return [(n, v) for n, v in observed.features if rule.holds(v)] or list(observed.features[:1])


def _message(
    rule: AlertRule, observed: FeatureValue, offending: list[tuple[str, float]], rows: int | None
) -> str:
    label = "PSI" if rule.metric == "psi" else rule.metric
    head = f"{label} {observed.value:.4g} {rule.op} {rule.threshold:g}"
    scope = f"top-{rule.top_features} " if rule.top_features is not None else ""
    if rule.metric == "psi" and offending:
        return f"{head} on {_feature_list(offending, scope, with_values=len(offending) > 1)}"
    if rule.metric in FEATURE_METRICS and offending:
        return f"{head}: drifted {_feature_list(offending, scope, with_values=False)}"
    if rule.metric in FEATURE_METRICS:
        return f"{head} ({observed.considered} {scope}features considered{observed.note})"
    support = support_metric(rule.metric).replace("_", " ")
    return f"{head} (on {rows} {support})" if rows is not None else head


def _feature_list(features: list[tuple[str, float]], scope: str, *, with_values: bool) -> str:
    shown = features[:_SHOWN_FEATURES]
    names = ", ".join(
        f"{name!r} ({value:.3g})" if with_values and not math.isnan(value) else repr(name)
        for name, value in shown
    )
    more = f" and {len(features) - len(shown)} more" if len(features) > len(shown) else ""
    noun = "feature" if len(features) == 1 else "features"
    suffix = f" ({scope}{noun})" if scope else ""
    return f"{noun} {names}{more}{suffix}"


def _considered(
    drift: DriftReport, importance: Mapping[str, float], top: int | None
) -> tuple[list[Any], str]:
    columns = list(drift.columns)
    if top is None:
        return columns, ""
    if not importance:
        return columns, "; no importance recorded, so all features count"
    ranked = sorted(columns, key=lambda c: (-importance.get(c.name, -math.inf), c.name))
    return ranked[:top], ""


def _psi(column: Any) -> float:
    try:
        return float(column["psi"].statistic)
    except KeyError:
        return math.nan


def _by_value(item: tuple[str, float]) -> tuple[float, str]:
    value = item[1]
    return (math.inf if math.isnan(value) else -value, item[0])


def _rows(metrics: Mapping[str, float], metric: str) -> int | None:
    value = metrics.get(support_metric(metric))
    return None if value is None or math.isnan(value) else int(value)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None

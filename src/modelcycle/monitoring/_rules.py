"""Alert rules: a condition on one metric of a monitoring report, and the metric names.

A rule compares one metric with a threshold, e.g. ``psi > 0.2 top 10``: "the largest
PSI among the ten most important features is over 0.2". Rules are evaluated against
a :class:`~modelcycle.monitoring.MonitorReport` (or anything with its ``model``,
``version``, ``metrics``, ``drift`` and ``importance``); a rule that holds fires an
:class:`Alert`, which names the offending features for the per-feature metrics.

======================  =====================================================  =================
metric                  value                                                  ``min_rows`` on
======================  =====================================================  =================
``psi``                 largest PSI over the numeric features considered       ``rows``
                        (the ``top_features`` most important, or all)
``drift.share``         share of the considered features that drifted          ``rows``
``drift.detected``      1 when the dataset drifted (with ``top_features``:     ``rows``
                        one of those features drifted), else 0
``prediction.psi``      PSI of the predictions against the holdout's           ``rows``
                        (regression value, binary positive-class probability)
``prediction.drifted``  1 when the predictions drifted, else 0                 ``rows``
``realized.<metric>``   metric on the labelled window (``realized.roc_auc``)   ``labelled_rows``
``estimated.<metric>``  CBPE estimate on the window (classifiers)              ``rows``
``latency.p50_ms``      median latency of the version's answered requests      ``requests``
``latency.p95_ms``      95th percentile of that latency                        ``requests``
``latency.p99_ms``      99th percentile of that latency                        ``requests``
``error_rate``          refused requests / requests                            ``requests``
``throughput_rps``      requests per second over the window                    ``requests``
``labelled_rows``       labelled rows of the version in the window             the count
``rows``                window rows of the version                             the count
``requests``            requests the version received                          the count
======================  =====================================================  =================

A rule whose metric is missing from the report (no labels yet, a regressor's
``estimated.*``) is *unavailable*; one with fewer rows than ``min_rows`` has
*insufficient data*. Neither fires.

Examples
--------
>>> rule = AlertRule.parse("psi > 0.2 top 10 critical")
>>> rule.metric, rule.op, rule.threshold, rule.top_features, rule.severity
('psi', '>', 0.2, 10, 'critical')
>>> AlertRule.parse("realized.roc_auc < 0.8 min 200").name
'realized.roc_auc < 0.8 min 200'
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal, get_args

from modelcycle.core import ValidationError
from modelcycle.evaluation import METRIC_TABLE

Op = Literal[">", ">=", "<", "<="]
Severity = Literal["info", "warning", "critical"]

OPS: Mapping[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
SEVERITIES: tuple[str, ...] = get_args(Severity)
#: Metrics named as they are (see the module's table).
PLAIN_METRICS: tuple[str, ...] = (
    "psi",
    "drift.share",
    "drift.detected",
    "prediction.psi",
    "prediction.drifted",
    "latency.p50_ms",
    "latency.p95_ms",
    "latency.p99_ms",
    "error_rate",
    "throughput_rps",
    "labelled_rows",
    "rows",
    "requests",
)
#: Families whose suffix is a holdout metric name (``realized.roc_auc``).
METRIC_FAMILIES: tuple[str, ...] = ("realized", "estimated")
FEATURE_METRICS: tuple[str, ...] = ("psi", "drift.share", "drift.detected")
_KNOWN_SUFFIXES = sorted(METRIC_TABLE)
_FIELDS = ("name", "metric", "op", "threshold", "top_features", "min_rows", "severity")


def support_metric(metric: str) -> str:
    """The count in a report's metrics that ``min_rows`` is checked against."""
    if metric.startswith("realized.") or metric == "labelled_rows":
        return "labelled_rows"
    if metric.startswith("latency.") or metric in ("error_rate", "throughput_rps", "requests"):
        return "requests"
    return "rows"


def check_metric_name(metric: object, where: str = "alert rule") -> str:
    """Return ``metric`` if it is a known metric name, else raise a precise error."""
    if not isinstance(metric, str) or not metric:
        raise ValidationError(f"{where}: field 'metric' is {metric!r}; expected a metric name")
    family, dot, suffix = metric.partition(".")
    if metric in PLAIN_METRICS or (dot and family in METRIC_FAMILIES and suffix in _KNOWN_SUFFIXES):
        return metric
    raise ValidationError(
        f"{where}: field 'metric' is {metric!r}; expected one of {list(PLAIN_METRICS)} or "
        f"'realized.<m>' / 'estimated.<m>' with <m> in {_KNOWN_SUFFIXES}",
        details={"field": "metric", "value": metric},
    )


@dataclass(frozen=True)
class AlertRule:
    """A condition on one metric of a monitoring report.

    Parameters
    ----------
    name:
        Shown in alerts and stored with them (at most 100 characters).
    metric:
        A metric of the module's table, e.g. ``"psi"`` or ``"realized.roc_auc"``.
    op, threshold:
        The rule fires when ``value <op> threshold``.
    top_features:
        For ``psi``, ``drift.share`` and ``drift.detected``: only the N most important
        features of the version (permutation importance) count.
    min_rows:
        Below this many rows in the metric's window (see the table) the rule is not
        evaluated: its state is "insufficient data".
    severity:
        ``"info"``, ``"warning"`` or ``"critical"``.

    Raises
    ------
    ValidationError
        A field is out of its range; the message names the rule, field and value.
    """

    name: str
    metric: str
    op: Op
    threshold: float
    top_features: int | None = None
    min_rows: int = 0
    severity: Severity = "warning"

    def __post_init__(self) -> None:
        _validate(self.to_dict(), f"alert rule {self.name!r}")
        object.__setattr__(self, "threshold", float(self.threshold))

    @property
    def text(self) -> str:
        """The compact form :meth:`parse` reads, e.g. ``"psi > 0.2 top 10"``."""
        parts = [self.metric, self.op, f"{self.threshold:g}"]
        if self.top_features is not None:
            parts += ["top", str(self.top_features)]
        if self.min_rows:
            parts += ["min", str(self.min_rows)]
        if self.severity != "warning":
            parts.append(self.severity)
        return " ".join(parts)

    def holds(self, value: float) -> bool:
        """Whether ``value`` satisfies the condition (so the rule fires)."""
        return OPS[self.op](value, self.threshold)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict that :meth:`from_mapping` reads back."""
        return {name: getattr(self, name) for name in _FIELDS}

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, position: int | None = None) -> AlertRule:
        """Build a rule from a dict (parsed JSON/TOML), rejecting unknown or bad fields.

        ``{"rule": "psi > 0.2 top 10"}`` is the compact form; other keys override it.
        ``position`` (the rule's index in a list) goes into error messages.

        Examples
        --------
        >>> AlertRule.from_mapping({"metric": "error_rate", "op": ">", "threshold": 0.05}).name
        'error_rate > 0.05'
        """
        where = f"alert rule #{position}" if position is not None else "alert rule"
        if not isinstance(data, Mapping):
            raise ValidationError(
                f"{where} is {data!r}; expected a mapping with fields {list(_FIELDS)} "
                "or a text like 'psi > 0.2 top 10'"
            )
        unknown = sorted(str(key) for key in set(data) - {*_FIELDS, "rule"})
        if unknown:
            raise ValidationError(
                f"{where}: unknown field(s) {unknown}; expected some of {[*_FIELDS, 'rule']}",
                details={"fields": unknown},
            )
        fields = cls.parse(data["rule"]).to_dict() if "rule" in data else {}
        fields.update({key: value for key, value in data.items() if key != "rule"})
        missing = [name for name in ("metric", "op", "threshold") if name not in fields]
        if missing:
            raise ValidationError(
                f"{where}: missing field(s) {missing}; a rule needs metric, op and threshold"
            )
        if "name" in data:
            where = f"{where} ({data['name']!r})"
        _validate({"name": "rule", **fields}, where)
        rule = cls(**{"name": "rule", **fields})
        return rule if "name" in data else replace(rule, name=rule.text)

    @classmethod
    def parse(cls, text: object) -> AlertRule:
        """Read the compact form ``<metric> <op> <threshold> [top N] [min N] [severity]``.

        Examples
        --------
        >>> AlertRule.parse("error_rate >= 0.05 min 100").min_rows
        100
        """
        if not isinstance(text, str) or not text.strip():
            raise ValidationError(
                f"alert rule text is {text!r}; expected e.g. 'psi > 0.2 top 10' "
                "(<metric> <op> <threshold> [top N] [min N] [info|warning|critical])"
            )
        tokens = _tokens(text)
        if len(tokens) < 3:
            raise ValidationError(
                f"alert rule {text!r} is incomplete; expected '<metric> <op> <threshold>', "
                "e.g. 'psi > 0.2'"
            )
        metric, op, threshold = tokens[:3]
        if threshold in OPS or threshold == "=":
            raise ValidationError(
                f"alert rule {text!r}: operator {op + threshold!r} is not valid; "
                f"expected one of {list(OPS)}"
            )
        fields: dict[str, Any] = {"name": " ".join(tokens), "metric": metric, "op": op}
        fields["threshold"] = _parse_number(threshold, "threshold", text)
        fields.update(_options(tokens[3:], text))
        return cls(**fields)


def parse_rules(items: Iterable[Mapping[str, Any] | str]) -> list[AlertRule]:
    """Rules from a list of mappings or compact texts; errors name the rule's position.

    Examples
    --------
    >>> [r.name for r in parse_rules(["psi > 0.2", {"rule": "error_rate > 0.1"}])]
    ['psi > 0.2', 'error_rate > 0.1']
    """
    rules: list[AlertRule] = []
    for position, item in enumerate(items):
        if isinstance(item, str):
            try:
                rules.append(AlertRule.parse(item))
            except ValidationError as error:
                raise ValidationError(f"alert rule #{position}: {error.message}") from None
        else:
            rules.append(AlertRule.from_mapping(item, position=position))
    names = [rule.name for rule in rules]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise ValidationError(f"alert rule names {duplicated} are repeated; names must be unique")
    return rules


def _validate(fields: Mapping[str, Any], where: str) -> None:
    name = fields.get("name")
    if not isinstance(name, str) or not 0 < len(name) <= 100:
        raise ValidationError(
            f"{where}: field 'name' is {name!r}; expected text of 1 to 100 characters"
        )
    check_metric_name(fields.get("metric"), where)
    _check_choice(fields.get("op"), tuple(OPS), "op", where)
    _check_number(fields.get("threshold"), "threshold", where)
    _check_choice(fields.get("severity", "warning"), SEVERITIES, "severity", where)
    _check_count(fields.get("min_rows", 0), "min_rows", where, low=0)
    top = fields.get("top_features")
    if top is not None:
        _check_count(top, "top_features", where, low=1)
        if fields.get("metric") not in FEATURE_METRICS:
            raise ValidationError(
                f"{where}: field 'top_features' is {top!r} but metric {fields.get('metric')!r} "
                f"is not per feature; expected it only with {list(FEATURE_METRICS)}"
            )


def _check_choice(value: object, allowed: tuple[str, ...], name: str, where: str) -> None:
    if value not in allowed:
        raise ValidationError(
            f"{where}: field {name!r} is {value!r}; expected one of {list(allowed)}",
            details={"field": name, "value": repr(value)},
        )


def _check_number(value: object, name: str, where: str) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(float(value))
    ):
        raise ValidationError(
            f"{where}: field {name!r} is {value!r}; expected a finite number",
            details={"field": name, "value": repr(value)},
        )


def _check_count(value: object, name: str, where: str, *, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValidationError(
            f"{where}: field {name!r} is {value!r}; expected an integer >= {low}",
            details={"field": name, "value": repr(value)},
        )


def _tokens(text: str) -> list[str]:
    return re.findall(r">=|<=|[<>]|[^\s<>]+", text)


def _options(tokens: list[str], text: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    words = iter(tokens)
    for word in words:
        key = {"top": "top_features", "min": "min_rows"}.get(word.lower())
        if key is not None:
            options[key] = _parse_count(next(words, None), word, text)
        elif word.lower() in SEVERITIES:
            options["severity"] = word.lower()
        else:
            raise ValidationError(
                f"alert rule {text!r}: unexpected {word!r}; after '<metric> <op> <threshold>' "
                "expected 'top N', 'min N' or a severity (info, warning, critical)"
            )
    return options


def _parse_number(token: str, name: str, text: str) -> float:
    try:
        return float(token)
    except ValueError:
        raise ValidationError(
            f"alert rule {text!r}: {name} {token!r} is not a number; expected e.g. 0.2"
        ) from None


def _parse_count(token: str | None, word: str, text: str) -> int:
    if token is None or not token.isdigit():
        raise ValidationError(
            f"alert rule {text!r}: {word!r} must be followed by a whole number; "
            f"got {'nothing' if token is None else repr(token)}"
        )
    return int(token)

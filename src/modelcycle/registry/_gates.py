"""Promotion gates: what a version must satisfy before it becomes ``@champion``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelcycle.core import Conflict, ValidationError
from modelcycle.packaging import breaking_changes
from modelcycle.records import Validation
from modelcycle.registry._version import ModelVersion


@dataclass(frozen=True)
class Gates:
    """The checks a version must pass to be promoted to ``@champion``.

    Parameters
    ----------
    min_metrics, max_metrics:
        Required bounds on the version's recorded metrics, e.g. ``{"test_roc_auc": 0.8}``.
    beat_champion:
        A metric on which the version must beat the current champion, both measured on
        the same holdout data set, by at least ``beat_by`` (in the metric's good direction).
    compatible_signature:
        Refuse a breaking change of inputs or outputs against the champion, unless the
        promotion says ``allow_breaking``.
    validation_passed:
        Refuse a version whose training run's data checks failed (a leakage suspect).

    Examples
    --------
    >>> Gates(min_metrics={"test_roc_auc": 0.8}, beat_champion="test_roc_auc", beat_by=0.005)
    ... # doctest: +ELLIPSIS
    Gates(...)
    """

    min_metrics: Mapping[str, float] = field(default_factory=dict)
    max_metrics: Mapping[str, float] = field(default_factory=dict)
    beat_champion: str | None = None
    beat_by: float = 0.0
    compatible_signature: bool = True
    validation_passed: bool = True

    def to_json(self) -> str:
        """Serialise for storage."""
        return json.dumps(
            {
                "min_metrics": dict(self.min_metrics),
                "max_metrics": dict(self.max_metrics),
                "beat_champion": self.beat_champion,
                "beat_by": self.beat_by,
                "compatible_signature": self.compatible_signature,
                "validation_passed": self.validation_passed,
            },
            sort_keys=True,
        )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Gates:
        """Build from a dict (e.g. parsed TOML/JSON), rejecting unknown keys and bad values."""
        known = {
            "min_metrics",
            "max_metrics",
            "beat_champion",
            "beat_by",
            "compatible_signature",
            "validation_passed",
        }
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValidationError(
                f"unknown gate setting(s) {unknown}; expected some of {sorted(known)}"
            )
        for key in ("min_metrics", "max_metrics"):
            for metric, bound in dict(data.get(key, {})).items():
                if isinstance(bound, bool) or not isinstance(bound, int | float):
                    raise ValidationError(f"gate {key}.{metric} is {bound!r}; expected a number")
        beat_by = data.get("beat_by", 0.0)
        if isinstance(beat_by, bool) or not isinstance(beat_by, int | float) or beat_by < 0:
            raise ValidationError(f"gate beat_by is {beat_by!r}; expected a number >= 0")
        return cls(
            min_metrics={str(k): float(v) for k, v in dict(data.get("min_metrics", {})).items()},
            max_metrics={str(k): float(v) for k, v in dict(data.get("max_metrics", {})).items()},
            beat_champion=data.get("beat_champion"),
            beat_by=float(beat_by),
            compatible_signature=bool(data.get("compatible_signature", True)),
            validation_passed=bool(data.get("validation_passed", True)),
        )

    @classmethod
    def from_json(cls, text: str | None) -> Gates:
        """Inverse of :meth:`to_json` (``None`` gives the defaults)."""
        return cls() if not text else cls.from_mapping(json.loads(text))


def gate_reasons(
    gates: Gates,
    candidate: ModelVersion,
    champion: ModelVersion | None,
    *,
    allow_breaking: bool,
    validation: Validation | None,
) -> list[str]:
    """Every reason the candidate may not become champion (empty: it passes)."""
    reasons = _bound_reasons(gates, candidate)
    if gates.validation_passed and validation is not None and validation.failed:
        found = f" ({'; '.join(validation.failures)})" if validation.failures else ""
        reasons.append(
            f"the data validation of run {candidate.run_id} failed{found}; train again "
            "without the suspect column ('modelcycle train ... --drop COLUMN')"
        )
    if champion is None or champion.version == candidate.version:
        return reasons
    if gates.compatible_signature and not allow_breaking:
        for change in breaking_changes(champion.signature, candidate.signature):
            reasons.append(f"breaking change against champion version {champion.version}: {change}")
    if gates.beat_champion:
        reasons.extend(_beat_reasons(gates, candidate, champion))
    return reasons


def _bound_reasons(gates: Gates, candidate: ModelVersion) -> list[str]:
    reasons = []
    for metric, bound in sorted(gates.min_metrics.items()):
        value = candidate.metrics.get(metric)
        if value is None:
            reasons.append(f"metric {metric!r} was not recorded (required >= {bound})")
        elif value < bound:
            reasons.append(f"metric {metric!r} is {value:.6g}, required >= {bound}")
    for metric, bound in sorted(gates.max_metrics.items()):
        value = candidate.metrics.get(metric)
        if value is None:
            reasons.append(f"metric {metric!r} was not recorded (required <= {bound})")
        elif value > bound:
            reasons.append(f"metric {metric!r} is {value:.6g}, required <= {bound}")
    return reasons


def _beat_reasons(gates: Gates, candidate: ModelVersion, champion: ModelVersion) -> list[str]:
    metric = gates.beat_champion
    assert metric is not None
    ours, theirs = candidate.metrics.get(metric), champion.metrics.get(metric)
    if ours is None or theirs is None:
        return [
            f"metric {metric!r} is not recorded for both this version and "
            f"champion {champion.version}"
        ]
    if candidate.test_dataset is None or candidate.test_dataset != champion.test_dataset:
        return [
            f"this version and champion {champion.version} were not evaluated on the same holdout "
            "data set, so their metrics cannot be compared"
        ]
    from modelcycle.evaluation import greater_is_better  # SciPy: load on use

    gain = ours - theirs if greater_is_better(metric) else theirs - ours
    if gain < gates.beat_by:
        return [
            f"{metric} {ours:.6g} does not beat champion version {champion.version}'s {theirs:.6g} "
            f"by at least {gates.beat_by:g} on the same holdout"
        ]
    return []


class PromotionRefused(Conflict):
    """A promotion failed its gates; ``details['reasons']`` lists why."""

    code = "gate_failed"

    def __init__(self, ref: str, alias: str, reasons: list[str]) -> None:
        listing = "; ".join(reasons)
        super().__init__(
            f"{ref} cannot become @{alias}: {listing} (an admin may override with --force; "
            "the override is recorded)",
            details={"reasons": reasons},
        )
        self.reasons = reasons

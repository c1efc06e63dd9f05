"""A model's monitoring and retraining policy: what the worker does for it, and when.

A policy is written in TOML (or given as a dict), validated once here, and stored per
model in the workspace database (:class:`~modelcycle.lifecycle.PolicyStore`)::

    model = "churn"

    [monitoring]
    every = "5m"            # how often the worker runs monitoring for this model
    window_rows = 5000      # the most recent logged rows it looks at
    webhook = "http://127.0.0.1:9000/hook"   # optional: where alerts are posted
    repeat_after = "1h"     # an alert still firing is sent again only after this long

    [[monitoring.alerts]]
    name = "feature drift"
    metric = "psi"
    op = ">"
    threshold = 0.2
    top_features = 10

    [retraining]
    on_alerts = ["feature drift"]  # alert names that trigger a retrain
    every = "7d"              # optional schedule
    new_labels = 1000         # optional: retrain after this many new labelled rows
    source = "data/churn.csv" # the original training data (file, or SQL URL with `query`)
    include_feedback = true   # add labelled logged rows (inputs + label) to the training data
    budget = 60              # seconds for the whole training job (see modelcycle train)
    mode = "promote"          # or "propose" (register as @challenger only)
    holdout_share = 0.3       # most recent labelled rows kept out of training for the comparison
    min_improvement = 0.0     # the challenger must beat the champion by this (metric units)
    confidence = 0.95         # paired bootstrap interval level

    [rollback]
    enabled = true
    min_labelled_rows = 300   # after a promotion, judge the new champion on this many rows

Durations are a positive whole number and a unit: ``45s``, ``30m``, ``12h``, ``7d``, ``2w``.
A relative ``source`` path in a policy file is resolved against the file's folder, so the
stored policy works wherever the worker runs.

Examples
--------
>>> policy = Policy.from_mapping({"model": "churn", "monitoring": {"every": "5m"}})
>>> policy.monitoring.every_s, policy.retraining is None
(300.0, True)
>>> Policy.from_mapping({"model": "churn", "monitoring": {"every": "soon"}})
Traceback (most recent call last):
...
modelcycle.core._errors.ValidationError: policy for 'churn' is not valid: monitoring.every = ...
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import pydantic
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from modelcycle.core import ModelcycleError, ValidationError
from modelcycle.evaluation import METRIC_TABLE
from modelcycle.monitoring import AlertRule, parse_rules
from modelcycle.registry import check_model_name
from modelcycle.security import parse_duration


def _duration(value: str | None) -> str | None:
    """Check a duration text, keeping it as written (pydantic turns the error into a field)."""
    if value is not None:
        try:
            parse_duration(value)
        except ModelcycleError as exc:
            raise ValueError(exc.message) from None
    return value


def _seconds(text: str) -> float:
    return parse_duration(text).total_seconds()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class MonitoringPolicy(_Strict):
    """How often monitoring runs, over which window, with which alert rules.

    ``alerts`` are alert rules as :func:`modelcycle.monitoring.parse_rules` reads them
    (``name``, ``metric``, ``op``, ``threshold`` and the metric's options).
    """

    every: str = Field("1h", description="How often the worker monitors the model.")
    window_rows: int | None = Field(5000, gt=0, description="Most recent logged rows to judge.")
    window_hours: float | None = Field(None, gt=0, description="Or: the last hours of rows.")
    webhook: str | None = Field(None, description="URL that receives fired alerts (JSON POST).")
    alerts: list[dict[str, Any] | str] = Field(default_factory=list)
    repeat_after: str = Field(
        "1h",
        description="An alert still firing is delivered again only after this long "
        "(every pass still records it in the report).",
    )

    _check_every = field_validator("every", "repeat_after")(_duration)

    @field_validator("webhook")
    @classmethod
    def _check_webhook(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value

    @field_validator("alerts")
    @classmethod
    def _check_alerts(cls, value: list[dict[str, Any] | str]) -> list[dict[str, Any] | str]:
        _rules(value)
        return value

    @property
    def every_s(self) -> float:
        """:attr:`every` in seconds."""
        return _seconds(self.every)

    @property
    def repeat_after_s(self) -> float:
        """:attr:`repeat_after` in seconds."""
        return _seconds(self.repeat_after)

    @property
    def alert_names(self) -> list[str]:
        """The names of the alert rules, in order (a rule without ``name`` is named by its text)."""
        return [rule.name for rule in self.rules()]

    def rules(self) -> list[AlertRule]:
        """The alert rules, parsed by :func:`modelcycle.monitoring.parse_rules`."""
        return parse_rules(self.alerts)


def _rules(rules: list[dict[str, Any] | str]) -> list[AlertRule]:
    """Let monitoring validate its own rule format, so the two never disagree."""
    try:
        return parse_rules(rules)
    except ModelcycleError as exc:
        raise ValueError(exc.message) from None


class RetrainingPolicy(_Strict):
    """When to retrain, on what data, and how the challenger is judged."""

    on_alerts: list[str] = Field(default_factory=list)
    every: str | None = None
    new_labels: int | None = Field(None, gt=0)
    source: str
    query: str | None = None
    target: str | None = Field(None, description="Target column (default: the champion's).")
    include_feedback: bool = True
    budget: float = Field(
        60.0,
        gt=0,
        validation_alias=AliasChoices("budget", "budget_s"),  # budget_s: before 0.2
        description="Seconds for the whole training job (data checks, search, refit, evaluation).",
    )
    mode: Literal["promote", "propose"] = "promote"
    holdout_share: float = Field(0.3, gt=0, lt=1)
    metric: str | None = Field(
        None, description="Comparison metric (default: the task's, roc_auc, log_loss or rmse)."
    )
    min_improvement: float = 0.0
    confidence: float = Field(0.95, gt=0.5, lt=1)
    resamples: int = Field(2000, ge=1000, le=100_000)
    seed: int = 0

    _check_every = field_validator("every")(_duration)

    @field_validator("metric")
    @classmethod
    def _check_metric(cls, value: str | None) -> str | None:
        if value is not None and value not in METRIC_TABLE:
            raise ValueError(f"unknown metric; expected one of {sorted(METRIC_TABLE)}")
        return value

    @property
    def every_s(self) -> float | None:
        """:attr:`every` in seconds (``None``: no schedule)."""
        return None if self.every is None else _seconds(self.every)


class RollbackPolicy(_Strict):
    """Whether a promotion is checked on new labels, and rolled back if it proved worse."""

    enabled: bool = True
    min_labelled_rows: int = Field(300, gt=0)
    check_every: str = Field("10m", description="How often to look again for enough labels.")

    _check_every = field_validator("check_every")(_duration)

    @property
    def check_every_s(self) -> float:
        """:attr:`check_every` in seconds."""
        return _seconds(self.check_every)


class Policy(_Strict):
    """One model's monitoring, retraining and rollback policy (see the module docs)."""

    model: str
    monitoring: MonitoringPolicy = Field(default_factory=MonitoringPolicy)
    retraining: RetrainingPolicy | None = None
    rollback: RollbackPolicy = Field(default_factory=RollbackPolicy)

    @field_validator("model")
    @classmethod
    def _check_model(cls, value: str) -> str:
        try:
            return check_model_name(value)
        except ModelcycleError:
            raise ValueError(
                "not a model name; expected a letter then up to 99 letters, digits, '_', '.' or '-'"
            ) from None

    @model_validator(mode="after")
    def _known_alerts(self) -> Policy:
        if self.retraining is not None:
            known = self.monitoring.alert_names
            unknown = [name for name in self.retraining.on_alerts if name not in known]
            if unknown:
                raise ValueError(
                    f"retraining.on_alerts names {unknown}, which are not alert rules in "
                    f"monitoring.alerts (defined: {known})"
                )
        return self

    # -- reading and writing ---------------------------------------------------------

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str | None = None) -> Policy:
        """Validate a dict; errors name ``source``, the field path, the value and the rule."""
        if not isinstance(data, Mapping):
            raise ValidationError(f"a policy must be a table (dict), got {data!r}")
        try:
            return cls.model_validate(dict(data))
        except pydantic.ValidationError as exc:
            where = source or f"policy for {data.get('model')!r}"
            raise ValidationError(
                f"{where} is not valid: " + "; ".join(_describe(e) for e in exc.errors()),
                details={"errors": [_detail(e) for e in exc.errors()]},
            ) from None

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> Policy:
        """Read and validate a TOML policy file (a relative ``source`` is made absolute)."""
        file = Path(path)
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ValidationError(f"policy file {str(file)!r} cannot be read: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ValidationError(f"policy file {str(file)!r} is not valid TOML: {exc}") from exc
        policy = cls.from_mapping(data, source=f"policy file {str(file)!r}")
        return _anchor_source(policy, file.resolve().parent)

    @classmethod
    def from_json(cls, text: str) -> Policy:
        """Inverse of :meth:`to_json`."""
        return cls.from_mapping(json.loads(text))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (unset optional values left out)."""
        return self.model_dump(mode="json", exclude_none=True)

    def to_json(self) -> str:
        """Compact JSON with sorted keys (the stored form)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def to_toml(self) -> str:
        """The policy as a TOML document that :meth:`from_toml` reads back."""
        from modelcycle.lifecycle._toml import dumps

        return dumps(self.to_dict())


def _anchor_source(policy: Policy, folder: Path) -> Policy:
    retraining = policy.retraining
    if retraining is None or "://" in retraining.source or Path(retraining.source).is_absolute():
        return policy
    if retraining.query is not None and not Path(folder / retraining.source).exists():
        return policy  # a database name for DuckDB, not a file next to the policy
    anchored = retraining.model_copy(update={"source": str(folder / retraining.source)})
    return policy.model_copy(update={"retraining": anchored})


def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(policy)"


def _describe(error: Mapping[str, Any]) -> str:
    loc = tuple(error.get("loc", ()))
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    if error.get("type") == "extra_forbidden":
        expected = _fields_at(loc[:-1])
        message = f"unknown field; expected one of {expected}"
    if error.get("type") == "missing":
        return f"{_path(loc)} is required"
    if not loc:
        return message
    value = repr(error.get("input"))
    if len(value) > 80:  # a whole table or list: the message says which part is wrong
        return f"{_path(loc)}: {message}"
    return f"{_path(loc)} = {value}: {message}"


def _detail(error: Mapping[str, Any]) -> dict[str, Any]:
    loc = tuple(error.get("loc", ()))
    return {"field": _path(loc), "message": _describe(error)}


def _fields_at(loc: tuple[int | str, ...]) -> list[str]:
    """The fields a policy table at ``loc`` accepts (for 'unknown field' messages)."""
    model: type[BaseModel] = Policy
    for part in loc:
        if isinstance(part, int):
            return []
        annotation = model.model_fields[str(part)].annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        found = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        if not found:
            return []
        model = found[0]
    return sorted(model.model_fields)

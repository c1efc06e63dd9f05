"""Typed request and response bodies of the ``/v1`` routes (they also document ``/docs``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from modelcycle.core import ValidationError


class PredictRequest(BaseModel):
    """Rows (``{"rows": [{...}]}``) or columns (``{"columns": {"age": [...]}}``) to predict."""

    model_config = ConfigDict(extra="forbid")

    rows: list[dict[str, Any]] | None = Field(
        default=None, description="One dict of field values per row."
    )
    columns: dict[str, list[Any]] | None = Field(
        default=None, description="One list of values per field, all of the same length."
    )

    @model_validator(mode="after")
    def _one_shape(self) -> PredictRequest:
        if (self.rows is None) == (self.columns is None):
            raise ValueError("send exactly one of 'rows' or 'columns'")
        return self

    def inputs(self) -> list[dict[str, Any]] | dict[str, list[Any]]:
        """The rows or the columns, whichever was sent."""
        if self.rows is not None:
            return self.rows
        if self.columns is None:  # unreachable after validation; keeps mypy exact
            raise ValidationError("send exactly one of 'rows' or 'columns'")
        return self.columns


class PredictResponse(BaseModel):
    """What answered and what it predicted."""

    request_id: str = Field(description="Identifier of this prediction in the prediction log.")
    model: str = Field(description="Name of the model that answered.")
    version: int = Field(description="The version that answered (exactly one per request).")
    predictions: list[Any] = Field(description="One label or value per row.")
    classes: list[Any] | None = Field(
        default=None, description="Class labels, in the order of each probability list."
    )
    probabilities: list[list[float]] | None = Field(
        default=None, description="Class probabilities per row (classifiers only)."
    )
    explanations: list[Explanation] | None = Field(
        default=None, description="Per row, the largest feature contributions ('?explain=true')."
    )


class Contribution(BaseModel):
    """One feature's contribution to a row's raw score."""

    feature: str = Field(description="Feature name after preprocessing (e.g. 'plan=b').")
    value: float = Field(description="Contribution in raw-score units (log-odds for binary).")


class Explanation(BaseModel):
    """A row's largest contributions; they and ``base`` (and the rest) sum to the raw score."""

    base: float = Field(description="The expected raw score (the bias term).")
    contributions: list[Contribution] = Field(description="Largest first, by magnitude.")


class Health(BaseModel):
    """Liveness or readiness, with the versions served when ready."""

    status: str
    models: dict[str, int] = Field(default_factory=dict)


class ErrorBody(BaseModel):
    """The one error shape: ``{"error": {"code", "message", "details"}}``."""

    error: dict[str, Any]


class ServedModelInfo(BaseModel):
    """One served reference and the version answering it now."""

    ref: str = Field(description="The reference served ('name', 'name@alias', 'name/version').")
    name: str = Field(description="The registered model's name.")
    version: int | None = Field(description="The version answering now (null while loading).")
    ready: bool = Field(description="Whether the version is loaded and warmed.")


class ServedModels(BaseModel):
    """The references this server answers."""

    models: list[ServedModelInfo]


class AuditEventBody(BaseModel):
    """One recorded state change, as stored in the hash chain."""

    seq: int
    time: str = Field(description="When, in ISO 8601 (UTC).")
    actor: str
    action: str
    target: str
    before: Any = None
    after: Any = None
    request_id: str | None = None
    prev_hash: str
    hash: str


class AuditEvents(BaseModel):
    """Audit events, oldest first."""

    events: list[AuditEventBody]

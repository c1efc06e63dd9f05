"""Test helpers: real prediction and feedback log segments built from a few rows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from modelcycle.store import (
    FEEDBACK_SCHEMA,
    PREDICTION_SCHEMA,
    LogLayout,
    inputs_json,
    write_segment,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    """``seconds`` after :data:`T0`."""
    return T0 + timedelta(seconds=seconds)


def prediction(
    time: datetime | float,
    *,
    inputs: dict[str, Any] | None = None,
    prediction: Any = 0,
    probabilities: list[float] | None = None,
    request_id: str | None = None,
    row: int = 0,
    version: int = 1,
    latency_ms: float = 1.0,
    route: str = "primary",
    error: str | None = None,
    model: str = "m",
) -> dict[str, Any]:
    """One prediction-log row (``time`` in seconds after :data:`T0` or a datetime)."""
    return {
        "request_id": request_id or uuid.uuid4().hex,
        "time": at(time) if isinstance(time, int | float) else time,
        "model": model,
        "version": version,
        "row": row,
        "inputs": None if error else inputs_json(inputs or {}),
        "prediction": None if error else orjson.dumps(prediction).decode(),
        "probabilities": probabilities,
        "latency_ms": latency_ms,
        "route": route,
        "error": error,
    }


def label(
    time: datetime | float,
    value: Any,
    *,
    request_id: str | None = None,
    row: int | None = 0,
    inputs: dict[str, Any] | None = None,
    model: str = "m",
) -> dict[str, Any]:
    """One feedback-log row: a label for a request id (and row) or for inputs."""
    return {
        "feedback_id": uuid.uuid4().hex,
        "time": at(time) if isinstance(time, int | float) else time,
        "model": model,
        "request_id": request_id,
        "row": row if request_id is not None else None,
        "inputs": inputs_json(inputs) if inputs is not None else None,
        "label": orjson.dumps(value).decode(),
        "source": "test",
    }


def write_predictions(home: Path, rows: list[dict[str, Any]], model: str = "m") -> Path:
    """Write ``rows`` as one prediction segment of ``model``."""
    table = pa.Table.from_pylist(rows, schema=PREDICTION_SCHEMA)
    return write_segment(LogLayout.under(home).predictions_of(model), table)


def write_feedback(home: Path, rows: list[dict[str, Any]], model: str = "m") -> Path:
    """Write ``rows`` as one feedback segment of ``model``."""
    table = pa.Table.from_pylist(rows, schema=FEEDBACK_SCHEMA)
    return write_segment(LogLayout.under(home).feedback_of(model), table)

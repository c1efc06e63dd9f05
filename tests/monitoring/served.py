"""Test helpers: a real trained model and prediction logs of its real answers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pytest

import modelcycle as mc
from modelcycle.store import (
    FEEDBACK_SCHEMA,
    PREDICTION_SCHEMA,
    LogLayout,
    inputs_json,
    write_segment,
)
from tests.models import Data, load_cancer


def train_cancer(folder: Path) -> tuple[mc.Workspace, Data]:
    """``ws.train`` on the breast-cancer data: version ``cancer/1`` (one thread, 6 s)."""
    ws = mc.Workspace(folder)
    data = load_cancer()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")
        ws.train(data.x_train.assign(target=data.y_train), target="target", name="cancer", budget=6)
    return ws, data


def top_feature(ws: mc.Workspace) -> str:
    """The most important feature of ``cancer/1`` (permutation importance)."""
    from modelcycle.monitoring._reference import load_reference

    importance = load_reference(ws.services, "cancer/1").importance
    return max(importance, key=lambda name: importance[name])


def bootstrap(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """``rows`` rows drawn with replacement (the same distribution as ``frame``)."""
    picks = np.random.default_rng(seed).integers(0, len(frame), rows)
    return frame.iloc[picks].reset_index(drop=True)


def log_predictions(
    ws: mc.Workspace,
    home: Path,
    rows: pd.DataFrame,
    *,
    start: datetime | None = None,
    version: int = 1,
    errors: int = 0,
    step_s: float = 1.0,
    model: str = "cancer",
) -> list[str]:
    """Predict ``rows`` with ``<model>/<version>`` and log them as the server would.

    One request per row, ``step_s`` apart from ``start`` (default: an hour ago), with
    ``errors`` refused requests after them. Returns the request ids of the rows.
    """
    loaded = ws.registry.load(f"{model}/{version}")
    labels = loaded.predict(rows)
    proba = loaded.predict_proba(rows)
    start = start or datetime.now(UTC) - timedelta(hours=1)
    ids = [uuid.uuid4().hex for _ in range(len(rows))]
    records = [
        {
            "request_id": ids[i],
            "time": start + timedelta(seconds=i * step_s),
            "model": model,
            "version": version,
            "row": 0,
            "inputs": inputs_json(record),
            "prediction": orjson.dumps(labels[i], option=orjson.OPT_SERIALIZE_NUMPY).decode(),
            "probabilities": proba[i].tolist(),
            "latency_ms": 2.0 + (i % 7),
            "route": "primary",
            "error": None,
        }
        for i, record in enumerate(rows.to_dict(orient="records"))
    ]
    records += [
        {
            "request_id": uuid.uuid4().hex,
            "time": start + timedelta(seconds=(len(rows) + i) * step_s),
            "model": model,
            "version": version,
            "row": 0,
            "inputs": None,
            "prediction": None,
            "probabilities": None,
            "latency_ms": 0.5,
            "route": "primary",
            "error": "invalid",
        }
        for i in range(errors)
    ]
    table = pa.Table.from_pylist(records, schema=PREDICTION_SCHEMA)
    write_segment(LogLayout.under(home).predictions_of(model), table)
    return ids


def log_labels(home: Path, request_ids: list[str], labels: list[int]) -> None:
    """Delayed labels for logged requests, a minute after now."""
    when = datetime.now(UTC)
    records = [
        {
            "feedback_id": uuid.uuid4().hex,
            "time": when,
            "model": "cancer",
            "request_id": request_id,
            "row": 0,
            "inputs": None,
            "label": orjson.dumps(int(label)).decode(),
            "source": "test",
        }
        for request_id, label in zip(request_ids, labels, strict=True)
    ]
    table = pa.Table.from_pylist(records, schema=FEEDBACK_SCHEMA)
    write_segment(LogLayout.under(home).feedback_of("cancer"), table)

"""Test helpers: a model's served traffic written to the real prediction and feedback logs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa

import modelcycle as mc
from modelcycle.store import (
    FEEDBACK_SCHEMA,
    PREDICTION_SCHEMA,
    LogLayout,
    inputs_json,
    write_segment,
)


def serve_and_label(
    ws: mc.Workspace,
    home: Path,
    ref: str,
    inputs: pd.DataFrame,
    labels: pd.Series,
    *,
    start: datetime | None = None,
) -> None:
    """Log what version ``ref`` answers for ``inputs`` (one request per row), then the labels.

    Rows are one second apart from ``start`` (default: now), in the order given.
    """
    version = ws.registry.resolve(ref)
    loaded = ws.registry.load(version.ref)
    proba = np.asarray(loaded.predict_proba(inputs))
    predicted = loaded.predict(inputs)
    start = start or datetime.now(UTC)
    predictions, feedback = [], []
    for index, (row, label) in enumerate(zip(inputs.to_dict("records"), labels, strict=True)):
        request_id, time = uuid.uuid4().hex, start + timedelta(seconds=index)
        predictions.append(
            {
                "request_id": request_id,
                "time": time,
                "model": version.name,
                "version": version.version,
                "row": 0,
                "inputs": inputs_json(row),
                "prediction": orjson.dumps(_plain(predicted[index])).decode(),
                "probabilities": [float(p) for p in proba[index]],
                "latency_ms": 1.0,
                "route": "primary",
                "error": None,
            }
        )
        feedback.append(
            {
                "feedback_id": uuid.uuid4().hex,
                "time": time + timedelta(hours=1),
                "model": version.name,
                "request_id": request_id,
                "row": 0,
                "inputs": None,
                "label": orjson.dumps(_plain(label)).decode(),
                "source": "test",
            }
        )
    folder = LogLayout.under(home).predictions_of(version.name)
    write_segment(folder, pa.Table.from_pylist(predictions, schema=PREDICTION_SCHEMA))
    folder = LogLayout.under(home).feedback_of(version.name)
    write_segment(folder, pa.Table.from_pylist(feedback, schema=FEEDBACK_SCHEMA))


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def register_small_model(ws: mc.Workspace, name: str) -> int:
    """Register (and make @champion) a two-feature logistic regression as ``name``.

    For tests that need a model of that name to exist (a policy is refused for a model
    that is not registered) but never predict with it.
    """
    from sklearn.linear_model import LogisticRegression

    x = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    with ws.start_run(experiment="placeholders", name=name) as run:
        run.log_model(LogisticRegression().fit(x, [0, 0, 1, 1]), signature=x)
    version = ws.registry.register(run.run_id, name=name)
    ws.registry.promote(name, version.version, force=True)
    return version.version


def source_file(folder: Path, name: str = "source.csv") -> Path:
    """An (empty-bodied) training source file, for policies whose retraining never runs."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("a,b,y\n")
    return path

"""Where the operation logs live and what their Parquet segments hold.

Two append-only logs sit beside the workspace database, one folder per model, one
Parquet file ("segment") per write, each written under a temporary name and renamed
so readers never see half a file:

- ``<home>/predictions/<model>/*.parquet``: every answered (or refused) prediction,
  one row per input row (:data:`PREDICTION_SCHEMA`), written by the server.
- ``<home>/feedback/<model>/*.parquet``: delayed labels (:data:`FEEDBACK_SCHEMA`),
  from ``POST /v1/models/{ref}/feedback`` and ``modelcycle feedback``.

Inputs are stored as JSON objects with sorted keys (:func:`inputs_json`), so a label
sent with the inputs instead of a request id finds its prediction by equal text.
Read them with DuckDB (``read_parquet(..., union_by_name=true)``: older segments
may lack newer columns).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from modelcycle.store._files import private_writer

PREDICTIONS = "predictions"
FEEDBACK = "feedback"
#: The latest monitoring report of each model: ``<home>/reports/<model>/monitor.{html,json}``.
REPORTS = "reports"

#: One row per predicted input row. ``route``: ``primary``, ``canary`` or ``shadow``
#: (a shadow row repeats the answered request's id). ``error``: ``None`` for an
#: answered row; for a refused request, one row with the error code (``inputs``,
#: ``prediction`` and ``probabilities`` empty), so error rates come from the same log.
PREDICTION_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("time", pa.timestamp("ms", tz="UTC")),
        ("model", pa.string()),
        ("version", pa.int64()),
        ("row", pa.int32()),
        ("inputs", pa.string()),
        ("prediction", pa.string()),
        ("probabilities", pa.list_(pa.float64())),
        ("latency_ms", pa.float64()),
        ("route", pa.string()),
        ("error", pa.string()),
    ]
)

#: One delayed label. Either ``request_id`` (and ``row``, the row within that
#: request, 0 for single-row requests) or ``inputs`` identifies the prediction;
#: ``label`` is the true target as JSON text (``"1"``, ``"\"yes\""``, ``"3.5"``).
FEEDBACK_SCHEMA = pa.schema(
    [
        ("feedback_id", pa.string()),
        ("time", pa.timestamp("ms", tz="UTC")),
        ("model", pa.string()),
        ("request_id", pa.string()),
        ("row", pa.int32()),
        ("inputs", pa.string()),
        ("label", pa.string()),
        ("source", pa.string()),
    ]
)


def log_folder(home: Path | str, kind: str, model: str | None = None) -> Path:
    """The folder of ``kind`` (:data:`PREDICTIONS`, :data:`FEEDBACK` or :data:`REPORTS`), or of
    one model in it."""
    folder = Path(home) / kind
    return folder / model if model is not None else folder


def segment_glob(folder: Path | str) -> str:
    """A DuckDB/pyarrow glob matching every finished segment under ``folder``."""
    return str(Path(folder) / "**" / "*.parquet")


def inputs_json(row: dict[str, Any]) -> str:
    """One input row as canonical JSON (sorted keys; NumPy values allowed)."""
    return orjson.dumps(row, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY).decode()


def write_segment(folder: Path | str, table: pa.Table) -> Path:
    """Write ``table`` as a new segment in ``folder`` atomically and privately; return its path.

    The folder is created mode 0700 and the segment 0600 (it holds model inputs);
    readers never see a half-written segment (see :func:`~modelcycle.store.private_writer`).
    """
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    path = Path(folder) / f"{stamp}-{uuid.uuid4().hex[:8]}.parquet"
    with private_writer(path) as handle:
        pq.write_table(table, handle)
    return path

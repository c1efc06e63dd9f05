"""One row the log cannot write never costs the others (issue 11).

Before: a string cell holding a lone UTF-16 surrogate (``"\\ud800"``, sent as a JSON
escape) was answered 200, and the log writer, failing to encode it, dropped the whole
flush, for every model. Now such a body is refused (422 naming row and field), and
the writer, should a row it cannot encode reach it anyway, leaves out that row alone,
counts it in ``modelcycle_log_rows_dropped_total`` and writes the rest. The same holds
for the feedback log.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import httpx
import numpy as np
import pyarrow as pa

import modelcycle as mc
from modelcycle.serving._log import PredictionLog
from modelcycle.serving._log_request import LoggedRequest
from tests.models import Data
from tests.serving.conftest import feedback_dir_of, make_app, running

ROW = {"age": 60, "income": 52.5, "plan": "b"}
JSON = {"content-type": "application/json"}


def _request(model: str, rows: list[dict[str, Any]], **options: Any) -> LoggedRequest:
    return LoggedRequest(
        request_id=uuid.uuid4().hex,
        time=datetime.now(UTC),
        model=model,
        version=1,
        inputs=rows,
        predictions=np.zeros(len(rows), dtype=np.int64),
        probabilities=np.full((len(rows), 2), 0.5),
        latency_ms=1.0,
        **options,
    )


#: Requests the writer cannot fully encode, each with exactly one bad row.
POISONS: list[Callable[[str], LoggedRequest]] = [
    lambda model: _request(model, [{**ROW, "plan": "\ud800"}]),
    lambda model: _request(model, [{**ROW, "pl\udfffan": "b"}]),
    lambda model: _request(model, [ROW] * 40 + [{**ROW, "plan": "x\ud800"}] + [ROW] * 59),
    lambda model: _request(model, [{**ROW, "income": 2**70}]),
    lambda model: _request(model, [{**ROW, "plan": "\ud800"}, ROW], sensitive=frozenset({"plan"})),
]


def _logged(log_dir: Path) -> dict[str, int]:
    """Rows in the prediction log per request id (answered rows only)."""
    if not list(log_dir.rglob("*.parquet")):
        return {}
    query = (
        f"select request_id, count(*) from read_parquet('{log_dir}/**/*.parquet', "
        "union_by_name=true) where error is null group by request_id"
    )
    return dict(duckdb.sql(query).fetchall())


def _missing(log_dir: Path, expected: dict[str, int]) -> dict[str, tuple[int, int]]:
    """Request ids whose rows in the log are not the expected count: (expected, found)."""
    logged = _logged(log_dir)
    return {rid: (n, logged.get(rid, 0)) for rid, n in expected.items() if logged.get(rid, 0) != n}


def _dropped(metrics: str, log: str, model: str, reason: str = "unencodable") -> float:
    labels = f'log="{log}",model="{model}",reason="{reason}"'
    found = re.search(rf"^modelcycle_log_rows_dropped_total\{{{labels}\}} (\S+)$", metrics, re.M)
    return float(found.group(1)) if found else 0.0


def test_poison_rows_cost_only_themselves_for_two_models(
    served: mc.Workspace, cancer: Data, tmp_path: Path
) -> None:
    log_dir = tmp_path / "log"
    app = make_app(served, log_dir, models=("churn", "cancer"), log_flush_interval_s=0.1)
    cancer_rows = cancer.x_test.head(40).to_dict("records")
    answered: dict[str, int] = {}
    poisoned: dict[str, int] = {}
    with running(app) as base, httpx.Client(base_url=base) as http:
        writer = app.state.service.log
        for index in range(20):
            for model, rows in (("churn", [{**ROW, "age": index}]), ("cancer", cancer_rows[:2])):
                answer = http.post(f"/v1/models/{model}/predict", json={"rows": rows})
                assert answer.status_code == 200, answer.text
                answered[answer.json()["request_id"]] = len(rows)
            refused = http.post(
                "/v1/models/churn/predict",
                content=b'{"rows":[{"age":1,"income":2,"plan":"\\ud800"}]}',
                headers=JSON,
            )
            assert refused.status_code == 422
            assert "row 0, field 'plan'" in refused.json()["error"]["message"]
            model = ("churn", "cancer")[index % 2]
            poison = POISONS[index % len(POISONS)](model)
            writer.append(poison)  # what validation now refuses, straight into the writer
            poisoned[poison.request_id] = len(poison.inputs or []) - 1
        expected = {**answered, **poisoned}  # every row, but the bad one of each poison
        deadline = time.monotonic() + 20
        while _missing(log_dir, expected) and time.monotonic() < deadline:
            time.sleep(0.1)
        metrics = http.get("/metrics").text
    assert _missing(log_dir, answered) == {}  # every answered row, of both models
    assert _missing(log_dir, poisoned) == {}  # every row of a poisoned request but the bad one
    assert _dropped(metrics, "predictions", "churn") == 10
    assert _dropped(metrics, "predictions", "cancer") == 10


def test_a_model_whose_segment_cannot_be_written_costs_only_its_rows(tmp_path: Path) -> None:
    drops: list[tuple[str, str, str, int]] = []
    log = PredictionLog(
        tmp_path, flush_interval_s=60, max_buffer=1000, on_drop=lambda *d: drops.append(d)
    )
    (tmp_path / "blocked").write_text("a file where the model's folder should be")
    for model in ("blocked", "fine", "blocked", "fine"):
        log.append(_request(model, [ROW, ROW]))
    assert log.flush() == 4
    assert drops == [("predictions", "blocked", "write_failed", 4)] and log.dropped == 4
    assert sum(_logged(tmp_path).values()) == 4


def _labels(model: str, label: Any, n_rows: int = 1) -> pa.Table:
    """Feedback rows for ``model``; ``label`` may be bytes that are not UTF-8 (unwritable)."""
    kind = pa.binary() if isinstance(label, bytes) else pa.string()
    return pa.table(
        {
            "feedback_id": [uuid.uuid4().hex for _ in range(n_rows)],
            "time": pa.array([datetime.now(UTC)] * n_rows, pa.timestamp("ms", tz="UTC")),
            "model": [model] * n_rows,
            "request_id": ["r"] * n_rows,
            "row": pa.array([0] * n_rows, pa.int32()),
            "inputs": pa.nulls(n_rows, pa.string()),
            "label": pa.array([label] * n_rows, kind),
            "source": ["test"] * n_rows,
        }
    )


def test_feedback_poison_costs_only_itself(
    served: mc.Workspace, cancer: Data, tmp_path: Path
) -> None:
    log_dir = tmp_path / "log"
    app = make_app(served, log_dir, models=("churn", "area"), log_flush_interval_s=0.1)
    accepted = 0
    with running(app) as base, httpx.Client(base_url=base) as http:
        writer = app.state.feedback.log
        for index in range(10):
            for model, label in (("churn", 1), ("area", 600.5)):
                item = {"request_id": f"{model}-{index}", "label": label}
                answer = http.post(f"/v1/models/{model}/feedback", json={"labels": [item]})
                assert answer.status_code == 202, answer.text
                accepted += 1
            writer.append(_labels(("churn", "area")[index % 2], b"\xff\xfe"))
            mixed = pa.concat_tables(
                [_labels("churn", b"1", 2), _labels("churn", b"\xff"), _labels("churn", b"0")]
            )
            writer.append(mixed)  # three good rows around a bad one
        deadline = time.monotonic() + 20
        metrics = ""
        while _dropped(metrics, "feedback", "area") < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
            metrics = http.get("/metrics").text
    folder = feedback_dir_of(log_dir)
    rows = duckdb.sql(
        f"select request_id, model from read_parquet('{folder}/**/*.parquet')"
    ).fetchall()
    assert sum(1 for rid, _ in rows if "-" in rid) == accepted  # every accepted label
    assert sum(1 for rid, _ in rows if rid == "r") == 30  # the mixed tables' good rows
    assert _dropped(metrics, "feedback", "churn") == 15
    assert _dropped(metrics, "feedback", "area") == 5

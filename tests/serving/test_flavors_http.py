"""Every flavor's output, whatever its dtype, order or stride, answers over real HTTP (issue 11).

A user's ``Pipeline(ColumnTransformer -> LGBMClassifier)`` answered 500 to every request
of two rows or more (LightGBM's ``predict_proba`` is Fortran-ordered, and orjson only
writes C-contiguous arrays). Here each flavor, and trusted models answering in awkward
arrays, is asked for 1, 2 and 1,000 rows through ``/v1`` (and ``?explain=true``), V2
and MLflow's ``/invocations`` on uvicorn, and for concurrent single rows that the
micro-batcher joins; every answer must equal the model's own, and be in the log.
(The concurrent test of a model also checks the log for that model's earlier answers.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import httpx
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from lightgbm import LGBMClassifier
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

import modelcycle as mc
from modelcycle.serving import load_served
from modelcycle.serving._encode import plain
from tests.models import Data
from tests.serving.conftest import churn_frame, make_app, running
from tests.serving.odd_outputs import LAYOUTS, OddClassifier, OddRegressor

ROW_COUNTS = (1, 2, 1000)
#: Model name -> its flavor (``churn`` and ``area`` come from the session's workspace).
FLAVORS = {
    "churn": "modelcycle",
    "area": "sklearn",
    "lgbpipe": "sklearn",
    "lgbm": "lightgbm",
    "xgb": "xgboost",
    "oddclf": "trusted",
    **{f"odd{name.replace('_', '')}": "trusted" for name in LAYOUTS},
}


def _register(ws: mc.Workspace, name: str, model: Any, sample: pd.DataFrame, **how: Any) -> None:
    with ws.start_run(experiment="flavors", name=name) as run:
        run.log_model(model, signature=sample.head(50), **how)
    ws.registry.register(run, name=name, trusted=bool(how.get("trusted")))
    ws.registry.promote(name, 1, force=True)


@pytest.fixture(scope="module")
def zoo(served: mc.Workspace, cancer: Data) -> dict[str, pd.DataFrame]:
    """Register one model per flavor and layout; return each model's 1,000 input rows."""
    frame = churn_frame(1000, seed=1)
    x, y = frame.drop(columns="churn"), frame["churn"]
    encode = ColumnTransformer([("plan", OneHotEncoder(), ["plan"])], remainder="passthrough")
    pipeline = Pipeline([("encode", encode), ("lgbm", LGBMClassifier(n_estimators=8, verbose=-1))])
    _register(served, "lgbpipe", pipeline.fit(x, y), x)
    typed = x.astype({"plan": "category"})
    ages = np.select([x.age < 35, x.age < 60], ["young", "middle"], "old")
    _register(served, "lgbm", LGBMClassifier(n_estimators=8, verbose=-1).fit(typed, ages), x)
    numeric = x[["age", "income"]]
    _register(served, "xgb", xgb.XGBClassifier(n_estimators=8).fit(numeric, y), numeric)
    trusted = {"flavor": "trusted", "trusted": True}
    _register(served, "oddclf", OddClassifier(), x, **trusted)
    for layout in LAYOUTS:
        _register(served, f"odd{layout.replace('_', '')}", OddRegressor(layout), x, **trusted)
    area = cancer.x_train[["mean radius", "mean texture"]]
    inputs = {name: x for name in FLAVORS}
    inputs["xgb"] = numeric
    inputs["area"] = area.sample(1000, replace=True, random_state=0).reset_index(drop=True)
    return inputs


@dataclass
class Server:
    """A running server of every model, and the request ids it answered."""

    base: str
    log_dir: Path
    answered: dict[str, list[str]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def server(
    served: mc.Workspace, zoo: dict[str, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    log_dir = tmp_path_factory.mktemp("flavors") / "log"
    app = make_app(served, log_dir, models=tuple(FLAVORS), batch_window_ms=20)
    with running(app) as base:
        yield Server(base, log_dir)


def _rows(zoo: dict[str, pd.DataFrame], name: str, n_rows: int) -> list[dict[str, Any]]:
    return list(zoo[name].head(n_rows).to_dict("records"))


def _expected(ws: mc.Workspace, name: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What the served version answers for ``rows``, computed without HTTP."""
    prediction = load_served(ws.registry, name, max_rows=10_000).predict(rows)
    probabilities = prediction.probabilities
    return {
        "predictions": plain(prediction.predictions),
        "probabilities": None if probabilities is None else probabilities.tolist(),
    }


def _same(found: Any, expected: Any) -> bool:
    """Equal JSON values (numbers within float rounding; NaN written as null)."""
    if isinstance(expected, list):
        return (
            isinstance(found, list)
            and len(found) == len(expected)
            and all(_same(f, e) for f, e in zip(found, expected, strict=True))
        )
    if isinstance(expected, float) and not isinstance(found, bool):
        return found is None if expected != expected else np.isclose(found, expected)
    return bool(found == expected)


def _v2_body(rows: list[dict[str, Any]]) -> dict[str, Any]:
    names = list(rows[0])
    return {
        "inputs": [
            {"name": k, "shape": [len(rows)], "datatype": "BYTES", "data": [r[k] for r in rows]}
            for k in names
        ]
    }


def _check_v2(answer: dict[str, Any], expected: dict[str, Any], n_rows: int) -> None:
    outputs = {output["name"]: output for output in answer["outputs"]}
    predict = outputs["predict"]
    assert predict["shape"][0] == n_rows
    flat = np.asarray(expected["predictions"], dtype=object).ravel().tolist()
    assert _same(predict["data"], flat)
    if expected["probabilities"] is not None:
        proba = outputs["predict_proba"]
        assert proba["shape"] == [n_rows, len(expected["probabilities"][0])]
        assert _same(proba["data"], np.ravel(expected["probabilities"]).tolist())


@pytest.mark.parametrize("n_rows", ROW_COUNTS)
@pytest.mark.parametrize("name", list(FLAVORS))
def test_every_flavor_answers_v1_and_v2(
    served: mc.Workspace, zoo: dict[str, pd.DataFrame], server: Server, name: str, n_rows: int
) -> None:
    rows = _rows(zoo, name, n_rows)
    expected = _expected(served, name, rows)
    with httpx.Client(base_url=server.base, timeout=60) as http:
        answer = http.post(f"/v1/models/{name}/predict", json={"rows": rows})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert _same(body["predictions"], expected["predictions"])
        assert _same(body.get("probabilities"), expected["probabilities"])
        v2 = http.post(f"/v2/models/{name}/infer", json=_v2_body(rows))
        assert v2.status_code == 200, v2.text
        _check_v2(v2.json(), expected, n_rows)
        explained = http.post(f"/v1/models/{name}/predict?explain=true", json={"rows": rows})
    answered = server.answered.setdefault(name, [])
    answered += [body["request_id"], v2.json()["id"]]
    if FLAVORS[name] == "modelcycle":
        assert explained.status_code == 200, explained.text
        assert len(explained.json()["explanations"]) == n_rows
        answered.append(explained.json()["request_id"])
    else:
        assert explained.status_code == 400 and "not_explainable" in explained.text


def _post_together(base: str, name: str, rows: list[dict[str, Any]]) -> list[httpx.Response]:
    """One single-row request per row, all at once (one thread and connection each)."""
    answers: list[httpx.Response | None] = [None] * len(rows)
    start = threading.Barrier(len(rows))

    def send(index: int) -> None:
        with httpx.Client(base_url=base, timeout=60) as client:
            client.get("/health/live")  # connect before the barrier
            start.wait()
            body = {"rows": [rows[index]]}
            answers[index] = client.post(f"/v1/models/{name}/predict", json=body)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(rows))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(answer is not None for answer in answers)
    return [answer for answer in answers if answer is not None]


def _batches(base: str, name: str) -> tuple[float, float]:
    """How many micro-batched calls ``name`` made, and how many requests they answered."""
    text = httpx.get(f"{base}/metrics").text
    found = {}
    for line in text.splitlines():
        if line.startswith("modelcycle_batch_requests_") and f'model="{name}"' in line:
            found[line.split("{")[0]] = float(line.rsplit(" ", 1)[1])
    count, total = "modelcycle_batch_requests_count", "modelcycle_batch_requests_sum"
    return found.get(count, 0.0), found.get(total, 0.0)


@pytest.mark.parametrize("name", list(FLAVORS))
def test_concurrent_single_rows_joined_by_the_batcher(
    served: mc.Workspace, zoo: dict[str, pd.DataFrame], server: Server, name: str
) -> None:
    rows = _rows(zoo, name, 16)
    expected = _expected(served, name, rows)
    calls_before, requests_before = _batches(server.base, name)
    answers = _post_together(server.base, name, rows)
    assert [a.status_code for a in answers] == [200] * len(rows), [a.text for a in answers]
    for index, answer in enumerate(answers):
        body = answer.json()
        assert _same(body["predictions"], expected["predictions"][index : index + 1])
        if expected["probabilities"] is not None:
            assert _same(body["probabilities"], expected["probabilities"][index : index + 1])
    calls, requests = _batches(server.base, name)
    assert requests - requests_before == len(rows)
    assert calls - calls_before < len(rows)  # some requests shared a model call
    answered = server.answered.setdefault(name, [])
    answered.extend(a.json()["request_id"] for a in answers)
    assert _wait_until_logged(server.log_dir, set(answered)) == set()  # and those of v1/v2


def _wait_until_logged(log_dir: Path, request_ids: set[str]) -> set[str]:
    """The ids among ``request_ids`` not in the log once it has had time to flush."""
    deadline = time.monotonic() + 20
    while True:
        logged = {
            rid
            for (rid,) in duckdb.sql(
                f"select distinct request_id from read_parquet('{log_dir}/**/*.parquet', "
                "union_by_name=true) where error is null"
            ).fetchall()
        }
        if request_ids <= logged or time.monotonic() > deadline:
            return request_ids - logged
        time.sleep(0.1)


@pytest.mark.parametrize("name", ["churn", "lgbpipe", "lgbm", "xgb", "oddclf", "oddobjects"])
def test_invocations_for_every_flavor(
    served: mc.Workspace, zoo: dict[str, pd.DataFrame], tmp_path: Path, name: str
) -> None:
    app = make_app(served, tmp_path / "log", models=(name,))
    with running(app) as base, httpx.Client(base_url=base, timeout=60) as http:
        for n_rows in ROW_COUNTS:
            rows = _rows(zoo, name, n_rows)
            answer = http.post("/invocations", json={"dataframe_records": rows})
            assert answer.status_code == 200, answer.text
            expected = _expected(served, name, rows)
            assert _same(answer.json()["predictions"], expected["predictions"])

"""Delayed labels over HTTP, and refused requests in the prediction log."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pytest
from fastapi.testclient import TestClient
from sklearn.linear_model import LinearRegression

import modelcycle as mc
from modelcycle.core import NotFound, Task, ValidationError
from modelcycle.packaging import InputSpec, Signature
from modelcycle.serving._feedback import FeedbackValidator
from modelcycle.serving._privacy import Redactor
from modelcycle.store import inputs_json
from tests.models import Data
from tests.serving.conftest import STRICT, feedback_dir_of, make_app, wait_ready

GOOD = {"age": 60, "income": 52.5, "plan": "b"}
PRIVATE = Signature(
    inputs=(
        InputSpec("age", "long"),
        InputSpec("income", "double", sensitive=True),
        InputSpec("plan", "string", categories=("a", "b", "c")),
    ),
    task=Task.BINARY,
    classes=(0, 1),
)
AREA_ROW = {"mean radius": 14.0, "mean texture": 19.0}


def _register_once(ws: mc.Workspace, name: str, log: Any) -> None:
    try:
        ws.registry.resolve(name)
    except NotFound:
        with ws.start_run(experiment="feedback", name=name) as run:
            log(run)
        ws.registry.register(run, name=name)
        ws.registry.promote(name, 1, force=True)


@pytest.fixture(scope="module")
def models(served: mc.Workspace, cancer: Data) -> mc.Workspace:
    """``private`` (income marked sensitive) and ``fragile`` (a regressor whose signature
    allows missing values its scikit-learn model refuses: a model error on null)."""
    pipeline = served.registry.load("churn/1")._predictor.pipeline  # type: ignore[attr-defined]
    _register_once(served, "private", lambda run: run.log_model(pipeline, signature=PRIVATE))
    columns = ["mean radius", "mean texture"]
    regressor = LinearRegression().fit(cancer.x_train[columns], cancer.x_train["mean area"])
    fragile = Signature(
        inputs=tuple(InputSpec(c, "double", nullable=True) for c in columns),
        task=Task.REGRESSION,
    )
    _register_once(served, "fragile", lambda run: run.log_model(regressor, signature=fragile))
    return served


@contextmanager
def serving(ws: mc.Workspace, log_dir: Path, **options: Any) -> Iterator[TestClient]:
    """A client of an app serving the test models; logs are flushed when it closes."""
    options.setdefault("models", ("churn", "strict", "area", "private", "fragile"))
    app = make_app(ws, log_dir, log_flush_interval_s=30, **options)
    with TestClient(app) as client:
        wait_ready(client)
        yield client


def feedback_rows(log_dir: Path) -> list[dict[str, Any]]:
    folder = feedback_dir_of(log_dir)
    if not list(folder.rglob("*.parquet")):
        return []
    relation = duckdb.sql(
        f"select * from read_parquet('{folder}/**/*.parquet') order by request_id nulls last, row"
    )
    names = relation.columns
    return [dict(zip(names, row, strict=True)) for row in relation.fetchall()]


def predictions(log_dir: Path, where: str = "true") -> list[tuple[Any, ...]]:
    return duckdb.sql(
        "select request_id, model, version, row, inputs, prediction, probabilities, "
        f"latency_ms, route, error from read_parquet('{log_dir}/**/*.parquet') where {where} "
        "order by time, row"
    ).fetchall()


# -- the validator, without a server ---------------------------------------------------


@pytest.mark.parametrize(
    ("label", "stored"),
    [(1, 1), ("1", 1), (1.0, 1), (0, 0), ("0", 0)],
)
def test_class_labels_match_by_value_or_text(label: Any, stored: int) -> None:
    labels, problems = FeedbackValidator(STRICT).validate([{"request_id": "r", "label": label}])
    assert problems == [] and labels[0].label == stored and type(labels[0].label) is int


@pytest.mark.parametrize("label", [True, "yes", 2, None, [1], 1.5, "1.5"])
def test_labels_that_are_no_class_are_refused(label: Any) -> None:
    _, problems = FeedbackValidator(STRICT).validate([{"request_id": "r", "label": label}])
    assert [(p.item, p.field) for p in problems] == [(0, "label")]
    assert problems[0].expected == "one of the model's classes [0, 1]"


def test_string_classes_accept_numbers_written_as_text() -> None:
    signature = Signature(STRICT.inputs, task=Task.BINARY, classes=("no", "yes", "1"))
    labels, _ = FeedbackValidator(signature).validate(
        [{"request_id": "r", "label": "yes"}, {"request_id": "r", "label": 1}]
    )
    assert [label.label for label in labels] == ["yes", "1"]


def test_regression_labels_are_finite_numbers() -> None:
    signature = Signature(STRICT.inputs, task=Task.REGRESSION)
    items = [{"request_id": "r", "label": v} for v in (3, 2.5, "3", math.nan, math.inf, True)]
    labels, problems = FeedbackValidator(signature).validate(items)
    assert [label.label for label in labels] == [3, 2.5]
    assert [p.item for p in problems] == [2, 3, 4, 5]
    assert {p.expected for p in problems} == {"a finite number (the model is a regressor)"}


def test_items_name_their_prediction_once() -> None:
    items: list[dict[str, Any]] = [
        {"label": 1},
        {"request_id": "r", "inputs": GOOD, "label": 1},
        {"request_id": "r", "row": -1, "label": 1},
        {"request_id": "r", "row": True, "label": 1},
        {"inputs": GOOD, "row": 0, "label": 1},
        {"inputs": [60, 52.5, "b"], "label": 1},
        {"inputs": {**GOOD, "age": "old"}, "label": 1},
        {"inputs": {**GOOD, "colour": "red"}, "label": 1},
        {"request_id": "", "label": 1},
        {"request_id": "r", "label": 1, "weight": 2},
        {"request_id": "r", "row": 3, "label": 1},
    ]
    labels, problems = FeedbackValidator(STRICT).validate(items)
    assert [(p.item, p.field) for p in problems] == [
        (0, "request_id"),
        (1, "inputs"),
        (2, "row"),
        (3, "row"),
        (4, "row"),
        (5, "inputs"),
        (6, "inputs.age"),
        (7, "inputs.colour"),
        (8, "request_id"),
        (9, "weight"),
    ]
    assert problems[6].value == "old" and problems[6].expected == "a number (long)"
    assert problems[7].value == "red" and "only the model's inputs" in problems[7].expected
    assert labels[0].request_id == "r" and labels[0].row == 3


def test_table_is_all_or_nothing_and_redacts_like_the_prediction_log() -> None:
    validator = FeedbackValidator(PRIVATE, max_items=3)
    redactor = Redactor("hash", b"salt")
    row = {"age": 41, "income": 61.5, "plan": "a"}
    table = validator.table(
        [{"inputs": row, "label": "1"}], model="private", source="api", redactor=redactor
    )
    [stored] = table.to_pylist()
    assert stored["inputs"] == inputs_json(redactor.row(row, frozenset({"income"})))
    assert "61.5" not in stored["inputs"] and stored["label"] == "1"
    assert stored["row"] is None and stored["request_id"] is None and stored["source"] == "api"
    with pytest.raises(ValidationError, match=r"labels\[1\]: field 'label'") as refused:
        validator.table(
            [{"request_id": "r", "label": 1}, {"request_id": "r", "label": 7}],
            model="private",
            source="api",
        )
    assert refused.value.details["item"] == 1 and refused.value.details["value"] == 7
    with pytest.raises(ValidationError, match="no labels"):
        validator.table([], model="private", source="api")


# -- over HTTP -----------------------------------------------------------------------------


def test_labels_by_request_id_and_by_inputs_are_recorded(
    models: mc.Workspace, tmp_path: Path
) -> None:
    log_dir = tmp_path / "log"
    with serving(models, log_dir) as client:
        answer = client.post("/v1/models/churn/predict", json={"rows": [GOOD, GOOD]}).json()
        request_id = answer["request_id"]
        labels = [
            {"request_id": request_id, "row": 1, "label": "1"},
            {"request_id": request_id, "label": 0},
            {"inputs": GOOD, "label": 1.0},
        ]
        response = client.post("/v1/models/churn/feedback", json={"labels": labels})
        assert response.status_code == 202, response.text
        assert response.json() == {"accepted": 3, "model": "churn"}
        metrics = client.get("/metrics").text
        assert 'modelcycle_feedback_labels_total{model="churn"} 3.0' in metrics
    rows = feedback_rows(log_dir)
    assert [(r["request_id"], r["row"], r["label"], r["source"]) for r in rows] == [
        (request_id, 0, "0", "api"),
        (request_id, 1, "1", "api"),
        (None, None, "1", "api"),
    ]
    assert {r["model"] for r in rows} == {"churn"} and rows[0]["inputs"] is None
    assert len({r["feedback_id"] for r in rows}) == 3
    [(logged_inputs,)] = {(p[4],) for p in predictions(log_dir)}
    assert rows[2]["inputs"] == logged_inputs == inputs_json(GOOD)


def test_sensitive_inputs_match_the_prediction_log(models: mc.Workspace, tmp_path: Path) -> None:
    log_dir = tmp_path / "log"
    row = {"age": 41, "income": 61.5, "plan": "a"}
    with serving(models, log_dir) as client:
        assert client.post("/v1/models/private/predict", json={"rows": [row]}).is_success
        labels = {"labels": [{"inputs": row, "label": 1}]}
        assert client.post("/v1/models/private/feedback", json=labels).status_code == 202
    [logged] = predictions(log_dir)
    [labelled] = feedback_rows(log_dir)
    assert labelled["inputs"] == logged[4]
    assert '"income":"sha256:' in labelled["inputs"] and "61.5" not in labelled["inputs"]


@pytest.mark.parametrize(
    ("item", "field", "value", "expected"),
    [
        ({"request_id": "r", "label": "maybe"}, "label", "maybe", "classes [0, 1]"),
        ({"request_id": "r", "label": True}, "label", True, "classes [0, 1]"),
        ({"label": 1}, "request_id", None, "or its inputs"),
        ({"inputs": {**GOOD, "age": "old"}, "label": 1}, "inputs.age", "old", "a number"),
        ({"inputs": {"age": 60, "income": 1.0}, "label": 1}, "inputs.plan", None, "required"),
        ({"request_id": "r", "row": -1, "label": 1}, "row", -1, "whole number"),
    ],
)
def test_a_bad_item_is_422_and_nothing_is_recorded(
    models: mc.Workspace,
    tmp_path: Path,
    item: dict[str, Any],
    field: str,
    value: Any,
    expected: str,
) -> None:
    log_dir = tmp_path / "log"
    with serving(models, log_dir, models=("strict",)) as client:
        labels = {"labels": [{"request_id": "a" * 32, "label": 1}, item]}
        response = client.post("/v1/models/strict/feedback", json=labels)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid" and error["message"].startswith("labels[1]: ")
    details = error["details"]
    assert (details["item"], details["field"], details["value"]) == (1, field, value)
    assert expected in details["expected"] and "nothing was recorded" in error["message"]
    assert feedback_rows(log_dir) == []


def test_wrongly_typed_fields_are_422_naming_the_item(models: mc.Workspace, tmp_path: Path) -> None:
    with serving(models, tmp_path / "log", models=("strict",)) as client:
        for item, field in (
            ({"request_id": 5, "label": 1}, "body.labels.0.request_id"),
            ({"request_id": "r", "label": 1, "weight": 2}, "body.labels.0.weight"),
            ({"request_id": "r"}, "body.labels.0.label"),
        ):
            response = client.post("/v1/models/strict/feedback", json={"labels": [item]})
            assert response.status_code == 422, response.text
            assert response.json()["error"]["details"]["errors"][0]["field"] == field


def test_regressor_labels_and_limits(models: mc.Workspace, tmp_path: Path) -> None:
    log_dir = tmp_path / "log"
    with serving(models, log_dir, max_rows=2) as client:
        good = {"labels": [{"inputs": AREA_ROW, "label": 655.1}, {"request_id": "r", "label": 3}]}
        assert client.post("/v1/models/area/feedback", json=good).json() == {
            "accepted": 2,
            "model": "area",
        }
        text = client.post(
            "/v1/models/area/feedback", json={"labels": [{"request_id": "r", "label": "655"}]}
        )
        assert "a finite number" in text.json()["error"]["details"]["expected"]
        nan = b'{"labels": [{"request_id": "r", "label": NaN}]}'
        headers = {"content-type": "application/json"}
        response = client.post("/v1/models/area/feedback", content=nan, headers=headers)
        assert response.status_code == 422 and response.json()["error"]["details"]["value"] == "nan"
        three = {"labels": [{"request_id": "r", "label": 1}] * 3}
        response = client.post("/v1/models/area/feedback", json=three)
        assert response.status_code == 413
        assert response.json()["error"]["details"] == {"labels": 3, "limit": 2}
        response = client.post("/v1/models/nope/feedback", json=good)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
        assert client.post("/v1/models/area/feedback", json={"labels": []}).status_code == 422
    assert [r["label"] for r in feedback_rows(log_dir)] == ["3", "655.1"]


# -- refused requests in the prediction log --------------------------------------------------


#: Both inputs sent, both null: valid input the regressor cannot predict (a model error).
FRAGILE_NULLS = {"mean radius": None, "mean texture": None}


def test_refused_and_failed_requests_are_logged_as_error_rows(
    models: mc.Workspace, tmp_path: Path
) -> None:
    log_dir = tmp_path / "log"
    with serving(models, log_dir, max_rows=3) as client:
        statuses = [
            client.post("/v1/models/churn/predict", json={"rows": [GOOD]}).status_code,
            client.post("/v1/models/churn/predict", json={"rows": [{"age": "old"}]}).status_code,
            client.post("/v1/models/churn/predict", json={"rows": [{"age": "x"}] * 2}).status_code,
            client.post("/v1/models/churn/predict", json={"rows": [GOOD] * 4}).status_code,
            client.post(
                "/v2/models/churn/infer",
                json={
                    "inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [1, 2]}]
                },
            ).status_code,
            client.post("/v1/models/fragile/predict", json={"rows": [AREA_ROW]}).status_code,
            client.post("/v1/models/fragile/predict", json={"rows": [FRAGILE_NULLS]}).status_code,
            client.post("/v1/models/nope/predict", json={"rows": [GOOD]}).status_code,
        ]
        failed = client.post("/v1/models/fragile/predict", json={"rows": [FRAGILE_NULLS]})
    assert statuses == [200, 422, 422, 413, 422, 200, 500, 404]
    error = failed.json()["error"]
    assert error["code"] == "model_error" and "'fragile' version 1" in error["message"]
    counts = duckdb.sql(
        f"select model, error, count(*) from read_parquet('{log_dir}/**/*.parquet') "
        "group by all order by all"
    ).fetchall()
    assert counts == [
        ("churn", "invalid", 3),
        ("churn", "too_large", 1),
        ("churn", None, 1),
        ("fragile", "model_error", 2),
        ("fragile", None, 1),
    ]
    refused = predictions(log_dir, "error is not null")
    assert {(r[2], r[3], r[4], r[5], r[6], r[8]) for r in refused} == {
        (1, None, None, None, None, "primary")
    }
    assert all(r[7] >= 0 for r in refused) and len({r[0] for r in refused}) == len(refused)


def test_auth_failures_are_not_in_the_prediction_log(models: mc.Workspace, tmp_path: Path) -> None:
    security = models.security
    security.create_user("log-predictor", actor="test")
    security.grant("log-predictor", "predictor", model="cancer", actor="test")
    scoped, _ = security.create_key("log-predictor", "predictor", "cancer")
    log_dir = tmp_path / "log"
    app = make_app(models, log_dir, secure=True, models=("churn",))
    with TestClient(app) as client:
        wait_ready(client)
        bad = {"rows": [{"age": "old"}]}
        assert client.post("/v1/models/churn/predict", json=bad).status_code == 401
        headers = {"Authorization": f"Bearer {scoped}"}
        response = client.post("/v1/models/churn/predict", json=bad, headers=headers)
        assert response.status_code == 403
    assert not list(log_dir.rglob("*.parquet"))

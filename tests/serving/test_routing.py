"""Canary and shadow challengers, seeded and logged by route (issue 5)."""

from __future__ import annotations

import random
from pathlib import Path

import duckdb
import httpx
import pytest

import modelcycle as mc
from modelcycle.core import ValidationError
from modelcycle.serving._routing import parse_canary, parse_shadow
from tests.serving.conftest import make_app, running

ROW = {"age": 60, "income": 52.5, "plan": "b"}


@pytest.fixture(scope="module")
def challenger(served: mc.Workspace) -> None:
    """churn@challenger -> version 2 (churn@champion stays version 1)."""
    served.registry.promote("churn", 2, alias="challenger", force=True)


def _log(log_dir: Path) -> list[tuple[str, int, str]]:
    return duckdb.sql(
        f"select request_id, version, route from '{log_dir}/**/*.parquet' order by time, route"
    ).fetchall()


@pytest.mark.usefixtures("challenger")
def test_canary_answers_a_seeded_share_and_names_its_version(
    served: mc.Workspace, tmp_path: Path
) -> None:
    app = make_app(
        served, tmp_path, models=("churn",), canary=("churn@challenger=0.3",), route_seed=11
    )
    with running(app) as base, httpx.Client(base_url=base) as client:
        answers = [
            client.post("/v1/models/churn/predict", json={"rows": [ROW]}).json() for _ in range(40)
        ]
        direct = client.post("/v1/models/churn@challenger/predict", json={"rows": [ROW]})
        metrics = client.get("/metrics").text
    draws = random.Random(11)
    expected = [2 if draws.random() < 0.3 else 1 for _ in range(40)]
    assert [a["version"] for a in answers] == expected and 1 in expected and 2 in expected
    assert direct.json()["version"] == 2  # the challenger is served by its own reference too
    routes = {request_id: (version, route) for request_id, version, route in _log(tmp_path)}
    for answer in answers:
        canary = answer["version"] == 2
        assert routes[answer["request_id"]] == (
            answer["version"],
            "canary" if canary else "primary",
        )
    assert routes[direct.json()["request_id"]] == (2, "primary")
    assert 'route="canary",version="2"} ' + f"{expected.count(2)}.0" in metrics


@pytest.mark.usefixtures("challenger")
def test_shadow_mirrors_every_request_without_changing_answers(
    served: mc.Workspace, tmp_path: Path
) -> None:
    app = make_app(served, tmp_path, models=("churn",), shadow=("churn@challenger",))
    with running(app) as base, httpx.Client(base_url=base) as client:
        answers = [
            client.post("/v1/models/churn/predict", json={"rows": [{**ROW, "age": age}]}).json()
            for age in range(20, 40)
        ]
        v2 = {"inputs": [{"name": k, "shape": [1], "datatype": "BYTES", "data": [v]}
                         for k, v in ROW.items()]}  # fmt: skip
        assert client.post("/v2/models/churn/infer", json=v2).json()["model_version"] == "1"
    assert {a["version"] for a in answers} == {1}
    logged = _log(tmp_path)
    primary = {request_id for request_id, version, route in logged if route == "primary"}
    shadow = {request_id for request_id, version, route in logged if route == "shadow"}
    assert {a["request_id"] for a in answers} <= primary and shadow == primary
    assert {version for _, version, route in logged if route == "shadow"} == {2}
    assert len(logged) == 2 * 21


@pytest.mark.parametrize(
    "text", ["churn=0.1", "churn@challenger", "churn@challenger=0", "churn@challenger=1.5", "x@y=a"]
)
def test_bad_canary_is_refused(text: str) -> None:
    with pytest.raises(ValidationError, match="canary"):
        parse_canary(text)


def test_shadow_needs_an_alias_or_version() -> None:
    assert parse_shadow("churn/2").ref == "churn/2"
    with pytest.raises(ValidationError, match="shadow 'churn'"):
        parse_shadow("churn")

"""A model with an XGBoost or CatBoost learner trains, registers, serves and is monitored
like any other: the pipeline packaging carries the learner's own safe files (issue 15)."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

import modelcycle as mc
from modelcycle.monitoring import MonitorWindow, monitor
from modelcycle.serving import ServeSettings, create_app
from tests.serving.conftest import logging_to, running


def members_table(n: int = 900, seed: int = 0) -> pd.DataFrame:
    """Customers of 60 shops (a many-valued category) whose churn depends on shop and age."""
    rng = np.random.default_rng(seed)
    shop = rng.integers(0, 60, n)
    age = rng.integers(18, 80, n)
    effect = rng.normal(scale=2.0, size=60)
    score = effect[shop] + (age - 50) / 10 + rng.normal(size=n)
    return pd.DataFrame(
        {"shop": [f"shop-{s}" for s in shop], "age": age, "churn": (score > 0).astype(int)}
    )


@pytest.mark.slow
@pytest.mark.parametrize("learner", ["xgboost", "catboost"])
def test_train_register_serve_and_monitor(tmp_path: Path, learner: str) -> None:
    frame = members_table()
    rows = frame.drop(columns=["churn"]).head(40)
    with mc.Workspace(tmp_path / "ws") as ws:
        result = ws.train(frame, target="churn", name="churn", budget=10, learners=[learner])
        assert result.version is not None and result.version.flavor == "modelcycle"
        assert {type(m.learner).name for m in result.pipeline.members} == {learner}
        ws.registry.promote("churn", result.version.version, force=True)
        loaded = ws.registry.load("churn@champion")
        expected = loaded.predict_proba(rows)
        assert np.array_equal(expected, result.pipeline.predict_proba(rows))

        settings = ServeSettings(
            models=("churn",), poll_interval_s=0.1, log_flush_interval_s=0.2
        )  # fmt: skip
        app = create_app(logging_to(ws, tmp_path / "log"), settings, auth_required=False)
        with running(app) as url:
            answer = httpx.post(
                f"{url}/v1/models/churn/predict",
                json={"rows": rows.to_dict(orient="records")},
                timeout=30,
            )
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == [int(v) for v in loaded.predict(rows)]

        report = monitor(
            logging_to(ws, tmp_path / "log"), "churn", window=MonitorWindow(last_rows=None)
        )
        health = report.health_of()
        assert health is not None and (health.requests, health.errors) == (1, 0)
        assert report.rows == len(rows)

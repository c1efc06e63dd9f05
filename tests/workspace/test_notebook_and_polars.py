"""Polars frames at the public edge and reports shown inline in Jupyter (issue 12)."""

from __future__ import annotations

import html
from pathlib import Path

import polars as pl
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

import modelcycle as mc
from modelcycle.registry import model_card


def test_a_polars_frame_trains_logs_and_predicts(tmp_path: Path) -> None:
    frame = pl.from_pandas(load_breast_cancer(as_frame=True).frame)
    with mc.Workspace(tmp_path / "ws") as ws:
        result = ws.train(frame, target="target", name="cancer", budget=4)
        assert ws.get_run(result.run_id).params["source"] == "polars DataFrame"
        X = frame.drop("target")
        with ws.start_run(experiment="own") as run:
            model = LogisticRegression(max_iter=5000).fit(X.to_pandas(), frame["target"])
            run.log_dataset(frame, role="train")
            run.log_model(model, signature=X.head(20))
        version = ws.registry.register(run, name="own")
        loaded = ws.registry.load(f"own/{version.version}")
        assert loaded.predict(X.head(5)).shape == (5,)

        page = result.report._repr_html_()
        assert page.startswith("<iframe srcdoc=") and "holdout evaluation" in html.unescape(page)
        card = model_card(ws.registry, "cancer/1")
        assert "Model card: cancer version 1" in html.unescape(card._repr_html_())
        assert "## Data checks" in card.to_markdown()

"""Test helpers: real models trained on bundled data and logged by real runs; the CLI."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

import modelcycle as mc
from modelcycle.services import Services
from modelcycle.store import LogLayout


@dataclass(frozen=True)
class Data:
    x_train: pd.DataFrame
    x_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series


def load_cancer() -> Data:
    """scikit-learn's breast-cancer set, split 70/30 with a fixed seed."""
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    parts = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    return Data(*parts)


def make_logistic(c: float) -> Pipeline:
    """Scaled logistic regression (scaling makes the solver converge in a few steps)."""
    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=1000))


def log_logistic(
    ws: mc.Workspace, data: Data, c: float, *, columns: list[str] | None = None
) -> str:
    """Train, evaluate and log one logistic regression; return the run id."""
    columns = columns or list(data.x_train.columns)
    with ws.start_run(experiment="cancer", name=f"C={c}") as run:
        model = make_logistic(c).fit(data.x_train[columns], data.y_train)
        run.log_params({"C": c})
        run.log_dataset(data.x_train.assign(target=data.y_train), role="train", name="cancer")
        run.log_dataset(data.x_test.assign(target=data.y_test), role="test", name="cancer")
        proba = model.predict_proba(data.x_test[columns])[:, 1]
        run.log_metric("test_roc_auc", roc_auc_score(data.y_test, proba))
        run.log_model(model, signature=data.x_train[columns].head(50))
    return run.run_id


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``modelcycle ARGS`` in-process; return the exit code, stdout and stderr."""
    from modelcycle.cli import main

    try:
        main(list(args))
        code = 0
    except SystemExit as exit:
        code = int(exit.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def logs_at(ws: mc.Workspace, root: Path | str) -> Services:
    """``ws``'s services with its prediction and feedback logs and reports under ``root``."""
    return replace(ws.services, layout=LogLayout.under(root))

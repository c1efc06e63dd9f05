"""Realized performance per version and bucket, checked against scikit-learn on the same rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, mean_squared_error, roc_auc_score

from modelcycle.core import ValidationError
from modelcycle.evaluation import default_metric
from modelcycle.monitoring import read_labelled, realized_performance
from modelcycle.monitoring._performance import class_codes, class_key, summarize_realized
from modelcycle.store import LogLayout
from tests.monitoring.logbuild import at, label, prediction, write_feedback, write_predictions

CLASSES = ["no", "yes"]


@pytest.fixture
def labelled(tmp_path: Path) -> pd.DataFrame:
    """300 labelled rows of version 1 and 200 of version 2 (a worse model), from real logs."""
    rng = np.random.default_rng(7)
    predictions, labels = [], []
    for i in range(500):
        version = 1 if i < 300 else 2
        truth = int(rng.integers(0, 2))
        noise = 0.35 if version == 1 else 0.6
        p = float(np.clip(0.5 + (truth - 0.5) * 0.6 + rng.normal(0, noise), 0.01, 0.99))
        predictions.append(
            prediction(
                i,
                request_id=f"r{i}",
                version=version,
                inputs={"i": i},
                prediction=CLASSES[int(p > 0.5)],
                probabilities=[1 - p, p],
            )
        )
        labels.append(label(1000 + i, CLASSES[truth], request_id=f"r{i}"))
    write_predictions(tmp_path, predictions)
    write_feedback(tmp_path, labels)
    return read_labelled(LogLayout.under(tmp_path), "m")


def _expected(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    y = (frame["label"] == "yes").to_numpy(int)
    p = np.array([row[1] for row in frame["probabilities"]])
    return y, p


def test_roc_auc_per_version_and_bucket_matches_scikit_learn(labelled: pd.DataFrame) -> None:
    result = realized_performance(labelled, task="binary", classes=CLASSES, bucket_rows=100)
    assert result.columns.tolist() == ["version", "start", "end", "rows", "metric", "value"]
    assert result["version"].tolist() == [1, 1, 1, 2, 2]
    assert result["rows"].tolist() == [100] * 5
    assert set(result["metric"]) == {"roc_auc"}
    for (_, bucket), start in zip(result.iterrows(), [0, 100, 200, 300, 400], strict=True):
        rows = labelled.iloc[start : start + 100]
        y, p = _expected(rows)
        assert bucket["value"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
        assert bucket["start"] == rows["time"].iloc[0] and bucket["end"] == rows["time"].iloc[-1]
    summary = summarize_realized(labelled, task="binary", classes=CLASSES)
    for version, rows in labelled.groupby("version"):
        y, p = _expected(rows)
        assert summary[int(version)]["rows"] == len(rows)
        assert summary[int(version)]["value"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert summary[1]["value"] > summary[2]["value"]  # the noisier version is worse


def test_default_buckets_and_other_metrics(labelled: pd.DataFrame) -> None:
    result = realized_performance(labelled, task="binary", classes=CLASSES, metric="accuracy")
    assert result.groupby("version")["rows"].apply(list).to_dict() == {1: [50] * 6, 2: [50] * 4}
    first = labelled.iloc[:50]
    y, p = _expected(first)
    predicted = (first["prediction"] == "yes").to_numpy(int)
    assert result["value"].iloc[0] == pytest.approx(accuracy_score(y, predicted))
    assert (p > 0.5).astype(int).tolist() == predicted.tolist()


def test_time_buckets(labelled: pd.DataFrame) -> None:
    result = realized_performance(labelled, task="binary", classes=CLASSES, freq="2min")
    # Rows are one second apart from 12:00:00: 120 per 2-minute span.
    assert result["rows"].tolist() == [120, 120, 60, 60, 120, 20]
    assert result["start"].iloc[1] == pd.Timestamp(at(120))
    assert result["end"].iloc[1] == pd.Timestamp(at(240))
    y, p = _expected(labelled.iloc[120:240])
    assert result["value"].iloc[1] == pytest.approx(roc_auc_score(y, p))
    with pytest.raises(ValidationError, match="fixed time span"):
        realized_performance(labelled, task="binary", classes=CLASSES, freq="MS")


def test_a_bucket_with_one_class_is_nan_not_an_error(labelled: pd.DataFrame) -> None:
    only_yes = labelled[labelled["label"] == "yes"]
    result = realized_performance(only_yes, task="binary", classes=CLASSES, bucket_rows=40)
    assert len(result) and result["value"].isna().all()
    assert realized_performance(only_yes.iloc[:0], task="binary", classes=CLASSES).empty


def test_multiclass_and_regression() -> None:
    time = pd.date_range("2025-01-01", periods=6, freq="min", tz="UTC")
    frame = pd.DataFrame(
        {
            "version": [3] * 6,
            "time": time,
            "prediction": [0, 1, 2, 2, 1, 0],
            "probabilities": [None] * 6,
            "label": [0.0, 1.0, 1.0, 2.0, "1", 7],  # 7 is not a class: dropped
        }
    )
    result = realized_performance(frame, task="multiclass", classes=[0, 1, 2])
    assert result["metric"].tolist() == ["accuracy"] and result["rows"].tolist() == [5]
    assert result["value"].iloc[0] == pytest.approx(0.8)
    regression = frame.assign(label=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    summary = summarize_realized(regression, task="regression")
    rmse = mean_squared_error(regression["label"], regression["prediction"]) ** 0.5
    assert summary == {3: {"rows": 6, "metric": "rmse", "value": pytest.approx(rmse)}}
    with pytest.raises(ValidationError, match="roc_auc"):
        summarize_realized(regression, task="regression", metric="roc_auc")


def test_class_matching_and_default_metric() -> None:
    codes = class_codes(pd.Series([True, "yes", 2.0, "2", None]), [False, True, 2])
    np.testing.assert_array_equal(codes, [1.0, np.nan, 2.0, 2.0, np.nan])
    assert default_metric("binary") == "roc_auc" and default_metric("regression") == "rmse"


def test_class_codes_match_each_value_alone_whatever_repeats() -> None:
    """Codes are computed once per distinct (type, value): ``True`` and ``1``, ``1.0`` and
    ``"1"``, NaN and ``pd.NA`` still get each their own value's code, repeated or not."""
    values = [1.0, "0", None, 7, True, 1, np.nan, pd.NA, "1", "x", [1], np.float64(1.0)]
    values += [np.int64(0), False, "true", 2.5, "2.5", float("nan")]
    series = pd.Series(values * 3, dtype=object)
    for classes in ([0, 1], [0, 1, True], ["no", "yes"], [False, True], [2.5, "x"]):
        index = {class_key(c): i for i, c in enumerate(classes)}
        alone = [index.get(class_key(v), np.nan) for v in series.tolist()]
        np.testing.assert_array_equal(class_codes(series, classes), np.array(alone, dtype=float))

"""Reports: one call builds them, JSON round-trips, HTML is one self-contained page."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelcycle.core import Task, ValidationError
from modelcycle.evaluation import EvaluationReport, build_report, score
from tests.evaluation.conftest import Holdout
from tests.evaluation.helpers import multiclass_case, regression_case

BINARY_SECTIONS = (
    "Summary",
    "Notes",
    "Leaderboard",
    "ROC and precision–recall curves",
    "Confusion matrix",
    "Calibration",
    "Thresholds",
    "Worst slices",
    "Feature importance",
    "Contributions",
    "Dataset",
)


def linear_contributions(holdout: Holdout) -> np.ndarray:
    """Exact per-feature contributions of the logistic regression, bias last (LightGBM's layout)."""
    scaler, model = holdout.model[0], holdout.model[-1]
    scaled = scaler.transform(holdout.frame)
    parts = scaled * model.coef_[0]
    return np.column_stack([parts, np.full(len(parts), model.intercept_[0])])


@pytest.fixture(scope="module")
def binary_report(cancer: Holdout) -> EvaluationReport:
    return build_report(
        "binary",
        cancer.y,
        cancer.proba,
        frame=cancer.frame,
        predict_fn=cancer.predict_fn,
        contributions=linear_contributions(cancer),
        class_labels=cancer.class_labels,
        leaderboard=[
            {"model": "logistic", "roc_auc": 0.995},
            {"model": "lightgbm", "roc_auc": 0.99},
        ],
        dataset={"name": "breast_cancer"},
        notes=["trained on 60 % of the rows"],
        n_boot=300,
        n_repeats=2,
        title="Breast cancer — logistic regression",
    )


def test_binary_report_has_every_part(binary_report: EvaluationReport, cancer: Holdout) -> None:
    report = binary_report
    assert report.task is Task.BINARY and report.class_labels == ("malignant", "benign")
    assert report.metrics == score("binary", cancer.y, proba=cancer.proba)
    assert all(low <= report.metrics[k] <= high for k, (low, high) in report.intervals.items())
    assert report.confusion is not None and report.confusion.labels == report.class_labels
    assert report.thresholds is not None and report.curves is not None
    assert report.calibration is not None and report.calibration.kind == "positive"
    assert len(report.slices) == 10 and report.importance is not None
    assert report.contributions is not None and report.contributions.n_rows == len(cancer.y)
    assert report.dataset["rows"] == len(cancer.y) and report.dataset["name"] == "breast_cancer"
    assert report.dataset["class_counts"] == np.bincount(cancer.y).tolist()
    assert report.notes == ("trained on 60 % of the rows",)


def test_html_is_one_self_contained_page(binary_report: EvaluationReport, tmp_path: Path) -> None:
    html = binary_report.to_html()
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert "plotly" in html.lower() and html.count('class="plotly-graph-div"') == 6
    for heading in BINARY_SECTIONS:
        assert f"<h2>{heading}</h2>" in html, heading
    assert "<h2>Residuals</h2>" not in html
    assert not re.search(r"<script[^>]*\bsrc\s*=", html, re.IGNORECASE)
    assert not re.search(r"<link[^>]*\bhref\s*=", html, re.IGNORECASE)
    assert html.count('<script type="text/javascript">') == 1  # plotly.js inlined once
    assert html == binary_report.to_html()  # deterministic: same report, same bytes
    paths = binary_report.write(tmp_path / "evaluation")
    assert sorted(p.name for p in paths) == ["evaluation.html", "evaluation.json"]
    assert (tmp_path / "evaluation" / "evaluation.html").stat().st_size < 6_000_000


def test_html_can_link_plotly_js_instead(binary_report: EvaluationReport) -> None:
    html = binary_report.to_html(plotly_js_src="/static/plotly.min.js")
    assert '<script src="/static/plotly.min.js"></script>' in html
    assert len(html) < 200_000 and html.count('class="plotly-graph-div"') == 6


def test_json_round_trips_a_built_report(binary_report: EvaluationReport) -> None:
    text = binary_report.to_json()
    json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in JSON"))
    again = EvaluationReport.from_json(text)
    assert again.to_dict() == binary_report.to_dict()
    assert again.slices == binary_report.slices and again.importance == binary_report.importance


def test_regression_report_shows_residuals() -> None:
    y, pred = regression_case(0, 400)
    frame = pd.DataFrame({"size": np.arange(400.0), "area": np.repeat(["n", "s"], 200)})
    report = build_report("regression", y, pred, frame=frame, n_boot=100)
    assert report.residuals is not None and report.confusion is None
    assert report.residuals.mean == pytest.approx(np.mean(y - pred))
    html = report.to_html()
    assert "<h2>Residuals</h2>" in html and "<h2>Worst slices</h2>" in html
    assert "<h2>Thresholds</h2>" not in html and "<h2>Confusion matrix</h2>" not in html
    assert EvaluationReport.from_json(report.to_json()).to_dict() == report.to_dict()


def test_multiclass_report_with_importance_from_an_all_numeric_frame() -> None:
    y, proba = multiclass_case(1, 300, 3)
    frame = pd.DataFrame({"noise": np.random.default_rng(0).normal(size=300)})
    report = build_report(
        "multiclass",
        y,
        proba,
        frame=frame,
        predict_fn=lambda a: np.tile(proba, (len(a) // 300, 1)),  # blind to its input
        class_labels=["cat", "dog", "fox"],
        n_boot=50,
    )
    assert report.calibration is not None and report.calibration.kind == "top_label"
    assert report.importance is not None and report.importance.features[0].mean == 0.0
    assert report.thresholds is None
    assert "<h2>Confusion matrix</h2>" in report.to_html()


def test_caller_text_is_escaped_and_small_holdouts_are_noted() -> None:
    report = build_report(
        "binary", [0, 1, 1, 0], [0.2, 0.7, 0.4, 0.1], notes=["<script>alert(1)</script>"], n_boot=20
    )
    html = report.to_html()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)" in html
    assert any("the holdout has 4 rows" in note for note in report.notes)


def test_one_class_holdout_is_reported_with_a_note() -> None:
    report = build_report("binary", [1, 1, 1], [0.9, 0.8, 0.3], n_boot=10)
    assert report.thresholds is None and np.isnan(report.metrics["roc_auc"])
    assert any("one class only" in note for note in report.notes)
    assert report.to_dict()["metrics"]["roc_auc"] is None
    assert "<h2>Summary</h2>" in report.to_html()


def test_importance_needs_numeric_inputs() -> None:
    frame = pd.DataFrame({"plan": ["a", "b"] * 10})
    with pytest.raises(ValidationError, match="pass X"):
        build_report("binary", [0, 1] * 10, [0.3, 0.6] * 10, frame=frame, predict_fn=lambda a: a)


def test_unknown_format_is_refused() -> None:
    data = EvaluationReport(task=Task.BINARY, metrics={}).to_dict()
    data["format"] = "something-else/9"
    with pytest.raises(ValidationError, match=r"expected 'modelcycle\.evaluation/1'"):
        EvaluationReport.from_dict(data)
    with pytest.raises(ValidationError, match="not valid JSON"):
        EvaluationReport.from_json("{")


finite = st.floats(allow_nan=False, allow_infinity=False, width=32)
reports = st.builds(
    EvaluationReport,
    task=st.sampled_from(list(Task)),
    metrics=st.dictionaries(st.sampled_from(["rmse", "roc_auc", "f1"]), finite | st.just(np.nan)),
    intervals=st.dictionaries(st.sampled_from(["rmse", "f1"]), st.tuples(finite, finite)),
    leaderboard=st.lists(
        st.dictionaries(
            st.text(max_size=5), st.text(max_size=5) | st.integers() | finite, max_size=3
        ),
        max_size=3,
    ).map(tuple),
    dataset=st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3),
    notes=st.lists(st.text(max_size=20), max_size=3).map(tuple),
    title=st.text(max_size=20),
)


@settings(max_examples=40, deadline=None)
@given(reports)
def test_report_json_round_trips(report: EvaluationReport) -> None:
    again = EvaluationReport.from_json(report.to_json())
    assert again.to_dict() == report.to_dict()
    assert again.to_json() == report.to_json()


def test_a_report_says_when_its_intervals_come_from_resamples_of_fewer_rows() -> None:
    y, pred = regression_case(31, 5_000)
    drawn = build_report("regression", y, pred, n_boot=50, resample_rows=1_000)
    note = "intervals: 50 resamples of 1,000 of the 5,000 rows each"
    assert any(n.startswith(note) and "m-out-of-n" in n for n in drawn.notes)
    plain = build_report("regression", y, pred, n_boot=50, resample_rows=5_000)
    assert not any("m-out-of-n" in n for n in plain.notes)
    low, high = drawn.intervals["rmse"]
    assert low < drawn.metrics["rmse"] < high

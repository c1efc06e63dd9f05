"""Reading the prediction and feedback logs: filters, typed inputs, labels joined to predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from modelcycle.core import Task, ValidationError
from modelcycle.monitoring import count_feedback, read_feedback, read_labelled, read_predictions
from modelcycle.monitoring._logread import probability_matrix
from modelcycle.packaging import InputSpec, Signature
from modelcycle.store import LogLayout, write_segment
from tests.monitoring.logbuild import (
    at,
    label,
    prediction,
    write_feedback,
    write_predictions,
)

SIGNATURE = Signature(
    (
        InputSpec("x", "double"),
        InputSpec("n", "long"),
        InputSpec("plan", "string"),
        InputSpec("active", "boolean"),
        InputSpec("email", "string", sensitive=True),
        InputSpec("time", "double"),
    ),
    Task.BINARY,
    ("no", "yes"),
)


def _inputs(i: int) -> dict[str, object]:
    return {"x": i / 2, "n": i, "plan": "ab"[i % 2], "active": i % 3 == 0, "email": f"h{i}"}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """Two segments: versions 1 and 2 over 20 s, a refused request and shadow copies."""
    first = [
        prediction(
            i,
            request_id=f"r{i}",
            version=1 + i % 2,
            inputs=_inputs(i),
            prediction="ab"[i % 2],
            probabilities=[0.9 - i / 100, 0.1 + i / 100],
            route="canary" if i % 2 else "primary",
        )
        for i in range(10)
    ]
    second = [
        prediction(i, request_id=f"r{i}", version=1 + i % 2, inputs=_inputs(i), prediction="a")
        for i in range(10, 20)
    ]
    second += [
        prediction(20, request_id="bad", version=1, error="invalid_input", latency_ms=0.5),
        prediction(3.5, request_id="r3", version=3, route="shadow", inputs=_inputs(3)),
    ]
    write_predictions(tmp_path, first)
    write_predictions(tmp_path, second)
    return tmp_path


def test_reads_every_answered_row_in_time_order(home: Path) -> None:
    frame = read_predictions(LogLayout.under(home), "m")
    assert frame["request_id"].tolist() == [f"r{i}" for i in range(20)]
    assert frame.columns.tolist() == [
        "request_id",
        "row",
        "time",
        "version",
        "route",
        "latency_ms",
        "prediction",
        "probabilities",
        "error",
    ]
    assert frame["time"].iloc[0] == pd.Timestamp(at(0))
    assert frame["prediction"].tolist()[:3] == ["a", "b", "a"]
    assert frame["probabilities"].iloc[1] == pytest.approx([0.89, 0.11])
    assert frame["probabilities"].iloc[15] is pd.NA
    assert probability_matrix(frame["probabilities"].iloc[:2]).tolist() == [
        [0.9, 0.1],
        [0.89, 0.11],
    ]


def test_filters_by_version_time_and_last_rows(home: Path) -> None:
    version_2 = read_predictions(LogLayout.under(home), "m", versions=[2])
    assert version_2["request_id"].tolist() == [f"r{i}" for i in range(1, 20, 2)]
    window = read_predictions(LogLayout.under(home), "m", since=at(5), until=at(8))
    assert window["request_id"].tolist() == ["r5", "r6", "r7"]
    iso = read_predictions(LogLayout.under(home), "m", since="2025-03-01T12:00:18Z")
    assert iso["request_id"].tolist() == ["r18", "r19"]
    last = read_predictions(LogLayout.under(home), "m", versions=[1], last_rows=3)
    assert last["request_id"].tolist() == ["r14", "r16", "r18"]
    assert read_predictions(LogLayout.under(home), "m", versions=[]).empty
    assert len(read_predictions(LogLayout.under(home), "m", last_rows=1000)) == 20


def test_last_rows_breaks_ties_within_a_request(tmp_path: Path) -> None:
    batch = [prediction(1, request_id="big", row=r, prediction=r) for r in range(5)]
    write_predictions(tmp_path, [prediction(0, request_id="early"), *batch])
    frame = read_predictions(LogLayout.under(tmp_path), "m", last_rows=3)
    assert frame["row"].tolist() == [2, 3, 4]
    assert frame["prediction"].tolist() == [2, 3, 4]


def test_routes_and_errors(home: Path) -> None:
    everything = read_predictions(
        LogLayout.under(home), "m", routes=("primary", "canary", "shadow"), include_errors=True
    )
    assert len(everything) == 22
    refused = everything[everything["error"].notna()]
    assert refused["request_id"].tolist() == ["bad"]
    assert refused["error"].tolist() == ["invalid_input"]
    shadow = read_predictions(LogLayout.under(home), "m", routes=["shadow"])
    assert shadow["request_id"].tolist() == ["r3"] and shadow["version"].tolist() == [3]
    canary = read_predictions(LogLayout.under(home), "m", routes=["canary"])
    assert set(canary["route"]) == {"canary"} and len(canary) == 5
    with pytest.raises(ValidationError, match="routes"):
        read_predictions(LogLayout.under(home), "m", routes="primary")
    with pytest.raises(ValidationError, match="last_rows"):
        read_predictions(LogLayout.under(home), "m", last_rows=0)
    with pytest.raises(ValidationError, match="since"):
        read_predictions(LogLayout.under(home), "m", since="yesterday-ish")


def test_decodes_inputs_by_signature(home: Path) -> None:
    frame = read_predictions(LogLayout.under(home), "m", signature=SIGNATURE)
    assert frame.columns.tolist()[9:] == ["x", "n", "plan", "active", "email", "inputs.time"]
    assert frame["x"].dtype == np.float64 and frame["x"].tolist()[:3] == [0.0, 0.5, 1.0]
    assert frame["n"].dtype == np.float64 and frame["n"].iloc[7] == 7.0
    assert frame["plan"].tolist()[:3] == ["a", "b", "a"]
    assert frame["active"].dtype == bool and frame["active"].tolist()[:4] == [
        True,
        False,
        False,
        True,
    ]
    assert frame["email"].iloc[2] == "h2"
    assert frame["inputs.time"].isna().all()  # a signature input the rows never sent
    # The signature's classes are text: the predictions stay text.
    assert frame["prediction"].tolist()[:2] == ["a", "b"]


def test_values_of_the_wrong_type_become_missing(tmp_path: Path) -> None:
    write_predictions(tmp_path, [prediction(0, inputs={"x": "oops", "plan": 3})])
    signature = Signature((InputSpec("x", "double"), InputSpec("plan", "string")))
    frame = read_predictions(LogLayout.under(tmp_path), "m", signature=signature)
    assert frame["x"].isna().all() and frame["plan"].tolist() == ["3"]


def test_no_segments_gives_an_empty_frame_with_the_columns(tmp_path: Path) -> None:
    frame = read_predictions(LogLayout.under(tmp_path), "m", signature=SIGNATURE)
    assert frame.empty
    assert frame.columns.tolist()[:9] == [
        "request_id",
        "row",
        "time",
        "version",
        "route",
        "latency_ms",
        "prediction",
        "probabilities",
        "error",
    ]
    assert "plan" in frame.columns
    assert read_labelled(LogLayout.under(tmp_path), "m").empty
    assert read_feedback(LogLayout.under(tmp_path), "m").empty


def test_sample_rows_draws_a_seeded_subset(home: Path) -> None:
    sample = read_predictions(LogLayout.under(home), "m", sample_rows=7, signature=SIGNATURE)
    again = read_predictions(LogLayout.under(home), "m", sample_rows=7, signature=SIGNATURE)
    assert len(sample) == 7 and sample["request_id"].tolist() == again["request_id"].tolist()
    assert sample["time"].is_monotonic_increasing
    assert set(sample["request_id"]) <= {f"r{i}" for i in range(20)}
    assert len(read_predictions(LogLayout.under(home), "m", sample_rows=100)) == 20


def test_older_segments_without_route_read_as_primary(tmp_path: Path) -> None:
    old = pa.table(
        {
            "request_id": ["old"],
            "time": pa.array([at(0)], pa.timestamp("ms", tz="UTC")),
            "model": ["m"],
            "version": pa.array([1], pa.int64()),
            "inputs": ['{"x":1.0}'],
            "prediction": ["1"],
            "latency_ms": [2.0],
        }
    )
    write_segment(LogLayout.under(tmp_path).predictions_of("m"), old)
    frame = read_predictions(
        LogLayout.under(tmp_path), "m", signature=Signature((InputSpec("x", "double"),))
    )
    assert frame["route"].tolist() == ["primary"] and frame["row"].tolist() == [0]
    assert frame["x"].tolist() == [1.0] and frame["prediction"].tolist() == [1]
    write_predictions(tmp_path, [prediction(1, inputs={"x": 2.0}, route="canary")])
    assert read_predictions(LogLayout.under(tmp_path), "m")["route"].tolist() == [
        "primary",
        "canary",
    ]


# -- labels ------------------------------------------------------------------------------


def test_labels_join_by_request_id_and_row(tmp_path: Path) -> None:
    write_predictions(
        tmp_path,
        [prediction(0, request_id="a", row=r, prediction=r % 2, inputs={"x": r}) for r in range(3)]
        + [prediction(1, request_id="b", prediction=1, inputs={"x": 9})],
    )
    write_feedback(
        tmp_path,
        [label(10, 1, request_id="a", row=2), label(11, 0, request_id="b", row=None)],
    )
    labelled = read_labelled(LogLayout.under(tmp_path), "m")
    assert list(zip(labelled["request_id"], labelled["row"], strict=True)) == [("a", 2), ("b", 0)]
    assert labelled["label"].tolist() == [1, 0]
    assert labelled["prediction"].tolist() == [0, 1]
    assert labelled["label_time"].tolist() == [pd.Timestamp(at(10)), pd.Timestamp(at(11))]
    assert labelled.columns.tolist()[-2:] == ["label", "label_time"]


def test_labels_join_by_inputs_to_the_latest_earlier_prediction(tmp_path: Path) -> None:
    same = {"x": 1.5, "plan": "a"}
    write_predictions(
        tmp_path,
        [
            prediction(0, request_id="first", inputs=same, prediction="no"),
            prediction(10, request_id="second", inputs=same, prediction="yes"),
            prediction(30, request_id="later", inputs=same, prediction="no"),
            prediction(5, request_id="other", inputs={"x": 2.0, "plan": "a"}),
        ],
    )
    # Keys arrive in another order: the canonical JSON still matches.
    write_feedback(tmp_path, [label(20, "yes", inputs={"plan": "a", "x": 1.5})])
    labelled = read_labelled(LogLayout.under(tmp_path), "m", signature=SIGNATURE)
    assert labelled["request_id"].tolist() == ["second"]
    assert labelled["label"].tolist() == ["yes"] and labelled["x"].tolist() == [1.5]


def test_labelled_rows_without_inputs_are_the_same_rows(tmp_path: Path) -> None:
    """``inputs=False`` (what realized performance reads) drops the input columns only:
    labels by request id and labels matched on inputs give the same rows and labels."""
    same = {"x": 1.5, "plan": "a"}
    write_predictions(
        tmp_path,
        [
            prediction(0, request_id="first", inputs=same, prediction="no"),
            prediction(10, request_id="second", inputs=same, prediction="yes"),
            prediction(12, request_id="third", inputs={"x": 3.0, "plan": "b"}, prediction="no"),
        ],
    )
    write_feedback(
        tmp_path,
        [label(20, "yes", inputs={"plan": "a", "x": 1.5}), label(21, "no", request_id="third")],
    )
    layout = LogLayout.under(tmp_path)
    whole = read_labelled(layout, "m", signature=SIGNATURE)
    narrow = read_labelled(layout, "m", signature=SIGNATURE, inputs=False)
    assert whole["request_id"].tolist() == ["second", "third"]
    inputs = [c for c in whole.columns if c not in narrow.columns]
    assert inputs == ["x", "n", "plan", "active", "email", "inputs.time"]  # the signature's
    pd.testing.assert_frame_equal(narrow, whole.drop(columns=inputs))
    assert read_labelled(
        LogLayout.under(tmp_path / "none"), "m", inputs=False
    ).columns.tolist() == (narrow.columns.tolist())


def test_latest_label_wins(tmp_path: Path) -> None:
    write_predictions(tmp_path, [prediction(0, request_id="a", inputs={"x": 1}, prediction=0)])
    write_feedback(tmp_path, [label(5, 0, request_id="a"), label(7, 1, request_id="a")])
    write_feedback(tmp_path, [label(6, 0, inputs={"x": 1})])
    labelled = read_labelled(LogLayout.under(tmp_path), "m")
    assert labelled["label"].tolist() == [1]
    assert labelled["label_time"].tolist() == [pd.Timestamp(at(7))]
    assert len(read_feedback(LogLayout.under(tmp_path), "m")) == 3
    assert count_feedback(LogLayout.under(tmp_path), "m") == 3
    assert count_feedback(LogLayout.under(tmp_path), "m", since=at(6)) == 2  # labels at 6 s and 7 s
    assert count_feedback(LogLayout.under(tmp_path), "m", since=at(8)) == 0
    assert count_feedback(LogLayout.under(tmp_path), "other") == 0


def test_shadow_and_refused_rows_are_never_labelled(tmp_path: Path) -> None:
    write_predictions(
        tmp_path,
        [
            prediction(0, request_id="a", inputs={"x": 1}, version=1),
            prediction(0, request_id="a", inputs={"x": 1}, version=2, route="shadow"),
            prediction(1, request_id="bad", error="invalid_input"),
            prediction(2, request_id="s", inputs={"x": 5}, version=2, route="shadow"),
        ],
    )
    write_feedback(
        tmp_path,
        [label(5, 1, request_id="a"), label(5, 1, request_id="bad"), label(5, 1, inputs={"x": 5})],
    )
    labelled = read_labelled(LogLayout.under(tmp_path), "m")
    assert labelled["request_id"].tolist() == ["a"] and labelled["version"].tolist() == [1]


def test_labelled_filters_apply_after_matching(tmp_path: Path) -> None:
    same = {"x": 1}
    write_predictions(
        tmp_path,
        [
            prediction(0, request_id="v1", inputs=same, version=1),
            prediction(1, request_id="v2", inputs=same, version=2),
        ]
        + [prediction(2 + i, request_id=f"k{i}", inputs={"x": 10 + i}) for i in range(5)],
    )
    write_feedback(
        tmp_path,
        [label(9, 1, inputs=same)] + [label(20, i % 2, request_id=f"k{i}") for i in range(5)],
    )
    # The label belongs to version 2's later prediction, not to version 1's.
    assert (
        "v1"
        not in read_labelled(LogLayout.under(tmp_path), "m", versions=[1])["request_id"].tolist()
    )
    assert read_labelled(LogLayout.under(tmp_path), "m", versions=[2])["request_id"].tolist() == [
        "v2"
    ]
    last = read_labelled(LogLayout.under(tmp_path), "m", last_rows=2)
    assert last["request_id"].tolist() == ["k3", "k4"]
    since = read_labelled(LogLayout.under(tmp_path), "m", since=at(5))
    assert since["request_id"].tolist() == ["k3", "k4"]

"""Large requests: column-wise checks, columns to the model, a column-wise log (issue 5).

A request of ``COLUMNAR_MIN_ROWS`` rows or more is checked a column at a time and
the model reads the extracted columns; these tests pin that such a request is
refused with exactly the error the cell-by-cell checks give, and answered and
logged exactly as before.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

import modelcycle as mc
from modelcycle.core import Task, ValidationError
from modelcycle.packaging import PROBABILITY_TOLERANCE, VALUE_TOLERANCE, InputSpec, Signature
from modelcycle.serving import ServedModel, load_served
from modelcycle.serving._columnar import ColumnChecks, Columns
from modelcycle.serving._log_columns import ARROW_MIN_ROWS, inputs_chunk, inputs_texts, json_texts
from modelcycle.serving._log_request import LoggedRequest, Segment
from modelcycle.serving._validate import COLUMNAR_MIN_ROWS, InputValidator
from modelcycle.store import PREDICTION_SCHEMA, inputs_json
from tests.models import Data
from tests.serving.conftest import make_app, wait_ready

N = 40
assert N >= COLUMNAR_MIN_ROWS

MIXED = Signature(
    inputs=(
        InputSpec("age", "long", nullable=False),
        InputSpec("income", "double"),
        InputSpec("plan", "string", nullable=False, categories=("a", "b", "c")),
        InputSpec("note", "string", required=False),
        InputSpec("active", "boolean"),
        InputSpec("seen", "datetime"),
        InputSpec("email", "string", sensitive=True, nullable=False),
    ),
    task=Task.BINARY,
    classes=(0, 1),
)


def good_row(index: int) -> dict[str, Any]:
    return {
        "age": 20 + index,
        "income": 1.5 * index,
        "plan": "abc"[index % 3],
        "note": f"note {index}",
        "active": index % 2 == 0,
        "seen": f"2024-01-{1 + index % 28:02d}T10:00:00",
        "email": f"user{index}@example.com",
    }


def good_rows(n: int = N) -> list[dict[str, Any]]:
    return [good_row(index) for index in range(n)]


def as_columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    return {name: [row.get(name) for row in rows] for name in rows[0]}


def error_of(call: Any) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        call()
    return caught.value


@pytest.fixture
def validator() -> InputValidator:
    return InputValidator(MIXED, max_rows=1000)


# -- the validator --------------------------------------------------------------------------


def test_good_rows_come_back_as_typed_columns(validator: InputValidator) -> None:
    rows = good_rows()
    rows[3]["income"] = None
    del rows[4]["note"]
    checked = validator.prepare(rows)
    assert checked.n_rows == N and checked.columns is not None
    values = checked.columns.values
    assert list(values) == MIXED.names
    assert values["age"].dtype == np.int64 and values["age"].tolist() == [20 + i for i in range(N)]
    assert values["income"].dtype == np.float64 and math.isnan(values["income"][3])
    assert values["income"][5] == 7.5
    assert values["active"].dtype == np.bool_ and values["active"][:2].tolist() == [True, False]
    assert values["plan"][:4] == ["a", "b", "c", "a"] and values["note"][4] is None
    assert validator.prepare(as_columns(good_rows())).columns is not None


def test_small_requests_are_checked_cell_by_cell(validator: InputValidator) -> None:
    checked = validator.prepare(good_rows(COLUMNAR_MIN_ROWS - 1))
    assert checked.n_rows == COLUMNAR_MIN_ROWS - 1 and checked.columns is None


BAD_CELLS = [
    ("age", "sixty", "a number"),
    ("age", True, "a number"),
    ("age", None, "may not be null"),
    ("income", math.inf, "a finite number"),
    ("income", "1.5", "a number"),
    ("plan", "z", "allowed values"),
    ("plan", 3, "a string"),
    ("note", 4, "a string"),
    ("active", "yes", "true or false"),
    ("seen", "yesterday", "ISO 8601"),
    ("email", 7, "a string"),
    ("email", None, "may not be null"),
]


@pytest.mark.parametrize(("field", "value", "expected"), BAD_CELLS)
@pytest.mark.parametrize("shape", ["rows", "columns"])
def test_a_bad_cell_in_a_large_request_is_named_as_before(
    validator: InputValidator, shape: str, field: str, value: Any, expected: str
) -> None:
    rows = good_rows()
    rows[33][field] = value
    sent: Any = rows if shape == "rows" else as_columns(rows)
    error = error_of(lambda: validator.prepare(sent))
    cell_by_cell = error_of(lambda: _cells(validator, sent))
    assert (error.message, error.details) == (cell_by_cell.message, cell_by_cell.details)
    assert error.details["row"] == 33 and error.details["field"] == field
    assert expected in error.details["expected"]
    shown = "<redacted>" if field == "email" else value
    if isinstance(value, float) and math.isinf(value):
        shown = "inf"
    assert error.details["value"] == shown


def _cells(validator: InputValidator, sent: Any) -> int:
    """The cell-by-cell checks alone."""
    return validator.rows(sent) if isinstance(sent, list) else validator.columns(sent)


def test_many_bad_cells_list_the_first_ten_in_order(validator: InputValidator) -> None:
    rows = good_rows()
    for index in (5, 17, 30):
        rows[index]["plan"] = "z"
        rows[index]["age"] = "old"
    error = error_of(lambda: validator.prepare(rows))
    found = [(e["row"], e["field"]) for e in error.details["errors"]]
    assert found == [(5, "age"), (5, "plan"), (17, "age"), (17, "plan"), (30, "age"), (30, "plan")]
    by_column = error_of(lambda: validator.prepare(as_columns(rows)))
    assert [(e["row"], e["field"]) for e in by_column.details["errors"]] == sorted(
        found, key=lambda item: (item[1] != "age", item[0])
    )


def test_an_unknown_field_in_one_row_names_that_row(validator: InputValidator) -> None:
    rows = good_rows()
    rows[21]["colour"] = "red"
    error = error_of(lambda: validator.prepare(rows))
    assert error.details["row"] == 21 and error.details["field"] == "colour"
    assert "row 21: unknown field(s) ['colour']" in error.message
    columns = {**as_columns(good_rows()), "colour": ["red"] * N}
    assert error_of(lambda: validator.prepare(columns)).details["field"] == "colour"


def test_unusual_but_valid_values_fall_back_and_pass(validator: InputValidator) -> None:
    rows = good_rows()
    rows[2]["note"] = math.nan  # a missing value, as NaN, in a nullable text field
    rows[3]["income"] = 2**63  # past int64, within uint64 (as orjson decodes): a float
    checked = validator.prepare(rows)
    assert checked.n_rows == N and checked.columns is None
    columns = as_columns(good_rows())
    del columns["note"]  # an absent nullable column
    checked = validator.prepare(columns)
    assert checked.columns is not None and checked.columns.values["note"] == [None] * N


def test_columns_of_different_lengths_and_too_many_rows(validator: InputValidator) -> None:
    columns = as_columns(good_rows())
    columns["age"] = columns["age"][:-1]
    assert "lengths" in error_of(lambda: validator.prepare(columns)).details
    small = InputValidator(MIXED, max_rows=N - 1)
    assert error_of(lambda: small.prepare(good_rows())).code == "too_large"
    assert error_of(lambda: small.prepare(as_columns(good_rows()))).code == "too_large"


ABSENT = object()  # a change that removes the field from the row
FLOAT32_MAX = float(np.finfo(np.float32).max)
VALUES = [None, True, False, 0, -3, 10**20, 10**400, 1.5, -0.0, math.inf, math.nan]
#: Numbers at the edges of what a model reads (issue 11): float32's range, 64 bits.
EDGES = [FLOAT32_MAX, -FLOAT32_MAX, 4e38, -1e308, 2**63, 2**64, -(2**63) - 1, 1e20]
CELLS = st.sampled_from(
    [*VALUES, *EDGES, "a", "z", "", "2024-05-01", "2024-05-01T10:00", "},{", ABSENT]
)


def _outcome(call: Any) -> Any:
    """What ``call`` returns, or the message and details of the ValidationError it raises."""
    try:
        return call()
    except ValidationError as error:
        return (error.message, error.details)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=COLUMNAR_MIN_ROWS, max_value=COLUMNAR_MIN_ROWS + 8),
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=COLUMNAR_MIN_ROWS - 1),
            st.sampled_from([*MIXED.names, "other"]),
            CELLS,
        ),
        max_size=3,
    ),
)
def test_column_checks_agree_with_cell_checks(
    n_rows: int, changes: list[tuple[int, str, Any]]
) -> None:
    rows = good_rows(n_rows)
    for index, field, value in changes:  # a few cells of a good request changed
        if value is ABSENT:
            rows[index].pop(field, None)
        else:
            rows[index][field] = value
    validator = InputValidator(MIXED, max_rows=1000)
    expected, found = (
        _outcome(lambda: validator.rows(rows)),
        _outcome(lambda: validator.prepare(rows)),
    )
    if isinstance(expected, tuple) or isinstance(found, tuple):
        assert found == expected
        return
    checked = validator.prepare(rows)
    assert checked.n_rows == expected
    if checked.columns is None:
        return
    for name, column in checked.columns.values.items():
        sent = [row.get(name) for row in rows]
        if isinstance(column, np.ndarray) and column.dtype.kind == "f":
            assert np.array_equal(column, np.array(sent, dtype=float), equal_nan=True)
        else:
            assert list(column) == sent


# -- the model reads the columns ------------------------------------------------------------


@pytest.mark.parametrize("ref", ["churn/1", "cancer/1", "area/1"])
def test_models_answer_columns_as_they_answer_rows(
    served: mc.Workspace, cancer: Data, ref: str
) -> None:
    model: ServedModel = load_served(served.registry, ref, max_rows=1000)
    if ref.startswith("churn"):
        rows: list[dict[str, Any]] = [
            {"age": 18 + i, "income": 40.0 + i / 3, "plan": "abc"[i % 3]} for i in range(N)
        ]
        rows[7]["income"] = None
    else:
        rows = cancer.x_test.head(N)[model.signature.names].to_dict(orient="records")
    checked = model.validator.prepare(rows)
    assert checked.columns is not None
    by_columns, by_rows = model.predict(checked.columns), model.predict(rows)
    assert by_columns.predictions.tolist() == by_rows.predictions.tolist()
    reference: Any = model.pipeline or model.loaded  # reading the rows as sent
    if by_rows.probabilities is None:
        assert by_columns.probabilities is None
        # a compiled model answers within the documented tolerance of the original
        expected = reference.predict(rows)
        np.testing.assert_allclose(by_columns.predictions, expected, rtol=VALUE_TOLERANCE)
    else:
        assert by_columns.probabilities is not None
        np.testing.assert_array_equal(by_columns.probabilities, by_rows.probabilities)
        expected = reference.predict_proba(rows)
        np.testing.assert_allclose(by_columns.probabilities, expected, atol=PROBABILITY_TOLERANCE)


def test_a_flavor_predictor_gets_every_signature_column_in_order(
    served: mc.Workspace, cancer: Data
) -> None:
    # the native path (a compiled version answers from its graph; here the predictor is tested)
    model = replace(load_served(served.registry, "cancer/1", max_rows=1000), compiled=None)
    rows = cancer.x_test.head(N).to_dict(orient="records")
    columns = model.validator.prepare(rows).columns
    assert isinstance(columns, Columns) and list(columns.values) == model.signature.names
    direct = model.loaded.predictor.predict_proba(cancer.x_test.head(N)[model.signature.names])
    # the same numbers up to the last bit or so (a copy's memory layout changes BLAS sums)
    np.testing.assert_allclose(model.predict(columns).probabilities, direct, rtol=1e-12)


# -- over HTTP, and in the prediction log ---------------------------------------------------


@pytest.fixture(scope="module")
def client_and_log(served: mc.Workspace, tmp_path_factory: pytest.TempPathFactory) -> Any:
    log_dir = tmp_path_factory.mktemp("columnar-log")
    app = make_app(served, log_dir, models=("churn", "strict"), log_flush_interval_s=60)
    with TestClient(app) as client:
        wait_ready(client)
        yield client, log_dir


CHURN_ROWS = [{"age": 18 + i, "income": 40.0 + i / 3, "plan": "abc"[i % 3]} for i in range(N)]


def test_large_rows_and_columns_requests_answer_as_single_rows(client_and_log: Any) -> None:
    client, _ = client_and_log
    rows = client.post("/v1/models/churn/predict", json={"rows": CHURN_ROWS}).json()
    columns = client.post(
        "/v1/models/churn/predict", json={"columns": as_columns(CHURN_ROWS)}
    ).json()
    singles = [
        client.post("/v1/models/churn/predict", json={"rows": [row]}).json() for row in CHURN_ROWS
    ]
    assert rows["predictions"] == columns["predictions"] == [s["predictions"][0] for s in singles]
    assert rows["probabilities"] == columns["probabilities"]
    np.testing.assert_allclose(rows["probabilities"], [s["probabilities"][0] for s in singles])


def test_a_bad_cell_in_a_large_request_is_422_naming_it(client_and_log: Any) -> None:
    client, _ = client_and_log
    rows = [dict(row) for row in CHURN_ROWS]
    rows[29]["plan"] = "z"
    response = client.post("/v1/models/strict/predict", json={"rows": rows})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["details"]["row"] == 29 and error["details"]["field"] == "plan"
    assert error["details"]["value"] == "z"
    assert error["message"].startswith("row 29, field 'plan': got 'z'; expected one of")


def test_malformed_rows_keep_the_framework_error(client_and_log: Any) -> None:
    client, _ = client_and_log
    response = client.post("/v1/models/churn/predict", json={"rows": [{"age": 1}, 2]})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["details"]["errors"][0]["field"] == "body.rows.1"
    assert error["details"]["errors"][0]["expected"] == "Input should be a valid dictionary"


@pytest.mark.parametrize("n_rows", [N, ARROW_MIN_ROWS + 6])
def test_the_log_holds_each_row_of_a_large_request(client_and_log: Any, n_rows: int) -> None:
    client, log_dir = client_and_log
    rows = [
        {"age": 18 + i % 60, "income": 40.0 + i / 3, "plan": "},{" if i == 3 else "abc"[i % 3]}
        for i in range(n_rows)
    ]
    answer = client.post("/v1/models/churn/predict", json={"rows": rows}).json()
    client.app.state.service.log.flush()
    table = pq.ParquetDataset(log_dir / "churn").read().to_pylist()
    logged = sorted((r for r in table if r["request_id"] == answer["request_id"]), key=_row)
    assert [r["row"] for r in logged] == list(range(n_rows))
    assert [r["inputs"] for r in logged] == [inputs_json(row) for row in rows]
    assert [r["prediction"] for r in logged] == [str(p) for p in answer["predictions"]]
    assert [r["probabilities"] for r in logged] == answer["probabilities"]
    assert {r["error"] for r in logged} == {None} and {r["route"] for r in logged} == {"primary"}


def _row(record: dict[str, Any]) -> int:
    return int(record["row"])


# -- building the log's columns -------------------------------------------------------------


@pytest.mark.parametrize("n_rows", [1, ARROW_MIN_ROWS - 1, ARROW_MIN_ROWS, 200])
def test_inputs_are_written_as_inputs_json_writes_them(n_rows: int) -> None:
    rows = [
        {"z": i, "a": f"é {i}", "m": None if i % 5 else 0.1 * i, "b": i % 2 == 0}
        for i in range(n_rows)
    ]
    expected = [inputs_json(row) for row in rows]
    assert inputs_texts(rows) == expected
    chunk = inputs_chunk(rows)
    assert (chunk if isinstance(chunk, list) else chunk.to_pylist()) == expected
    rows[-1]["a"] = '"},{"'  # the separator inside a value: each row written alone
    assert inputs_texts(rows)[-1] == inputs_json(rows[-1])
    chunk = inputs_chunk(rows)
    assert (chunk if isinstance(chunk, list) else chunk.to_pylist()) == [
        inputs_json(row) for row in rows
    ]


def test_json_texts_match_one_value_at_a_time() -> None:
    for values in ([1, 2.5, -0.0, 1e300, True], [0, None, "a,b"], [math.nan], []):
        assert json_texts(list(values)) == [
            "null" if isinstance(v, float) and math.isnan(v) else _json(v) for v in values
        ]


def _pylist(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as the log's Parquet gives them back (times truncated to milliseconds)."""
    return pa.Table.from_pylist(rows, schema=PREDICTION_SCHEMA).to_pylist()


def _json(value: Any) -> str:
    import orjson

    return orjson.dumps(value).decode()


def test_a_segment_keeps_requests_in_order_with_refusals() -> None:
    moment = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)

    def answered(request_id: str, n_rows: int) -> LoggedRequest:
        rows = [{"x": float(i)} for i in range(n_rows)]
        probabilities = np.tile([0.25, 0.75], (n_rows, 1))
        predictions = np.array([1] * n_rows, dtype=object)
        return LoggedRequest(request_id, moment, "m", 2, rows, predictions, probabilities, 3.0)

    refused = LoggedRequest("r", moment, "m", 2, None, None, None, 1.0, error="invalid")
    requests = [answered("a", 1), answered("b", ARROW_MIN_ROWS + 1), refused, answered("c", 2)]
    segment = Segment()
    for request in requests:
        segment.add(request)
    table = segment.table().to_pylist()
    assert table == [row for request in requests for row in _pylist(request.rows())]
    assert segment.n_rows == len(table) == 1 + ARROW_MIN_ROWS + 1 + 1 + 2
    ids = ["a"] + ["b"] * (ARROW_MIN_ROWS + 1) + ["r", "c", "c"]
    assert [r["request_id"] for r in table] == ids
    assert table[1 + ARROW_MIN_ROWS]["inputs"] == inputs_json({"x": float(ARROW_MIN_ROWS)})
    assert table[-3] == {
        **table[-3],
        "row": None,
        "inputs": None,
        "prediction": None,
        "probabilities": None,
        "error": "invalid",
    }
    assert table[-1]["row"] == 1 and table[-1]["probabilities"] == [0.25, 0.75]
    assert {r["time"] for r in table} == {moment.replace(microsecond=123000)}
    rows = requests[1].rows()
    assert rows[3]["time"] == moment and rows[3]["inputs"] == inputs_json({"x": 3.0})
    assert rows[3]["prediction"] == "1" and rows[3]["row"] == 3


def test_a_required_field_left_out_is_refused_on_both_paths() -> None:
    """Issue 12: an absent column was read as missing values; now only optional ones are."""
    checks = ColumnChecks(MIXED)
    validator = InputValidator(MIXED, max_rows=1000)
    rows = good_rows()
    del rows[7]["income"]  # nullable, but required: it must be sent (as null if unknown)
    assert checks.rows(rows) is None  # the fast path hands it to the cell-by-cell checks
    with pytest.raises(ValidationError, match="row 7, field 'income': it is missing"):
        validator.prepare(rows)
    columns = as_columns(good_rows())
    del columns["income"]
    assert checks.columns(columns, N) is None
    with pytest.raises(ValidationError, match="field 'income': it is missing"):
        validator.prepare(columns)
    optional = good_rows()
    for row in optional:
        del row["note"]  # optional: left out means missing
    assert validator.prepare(optional).n_rows == N

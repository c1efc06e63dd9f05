"""Request bodies decoded with orjson's rules, and what an error may quote (issue 11).

A body orjson refuses is decoded again by the standard library (for ``NaN``), held to
orjson's rules otherwise; a lone UTF-16 surrogate anywhere is refused naming where.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelcycle.serving._encode import json_bytes
from modelcycle.serving._errors import BodyRefused
from modelcycle.serving._json import decode, location, row_and_field
from modelcycle.serving._validate import shown_value


def test_shown_values_are_small_and_encodable() -> None:
    deep: Any = []
    for _ in range(5000):
        deep = [deep]
    for value in (deep, {"k": 1}, 10**5000, "z" * 10**6, "\ud800", b"\xff", float("nan")):
        shown = shown_value(value)
        assert len(json_bytes(shown)) < 300 and orjson.dumps(shown)


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
JSONABLE = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(document=JSONABLE)
def test_decode_agrees_with_orjson_and_reads_nan_like_json(document: Any) -> None:
    assert decode(orjson.dumps(document)) == orjson.loads(orjson.dumps(document))
    with_nan = json.dumps({"doc": document, "missing": float("nan")}).encode()
    decoded = decode(with_nan)  # orjson refuses NaN: the standard library reads it
    assert decoded["doc"] == orjson.loads(orjson.dumps(document))
    assert math.isnan(decoded["missing"])


@pytest.mark.parametrize(
    ("body", "path", "row", "field"),
    [
        (b'{"rows":[{"a":1},{"b":"\\ud800"}]}', "rows[1].b", 1, "b"),
        (b'{"rows":[{"\\udc00x":1}]}', "rows[0].\\udc00x", 0, "\\udc00x"),
        (b'{"columns":{"plan":["a","\\ud800"]}}', "columns.plan[1]", 1, "plan"),
        (b'{"labels":[{"inputs":{"p":"\\udfff"}}]}', "labels[0].inputs.p", None, None),
        (b'["\\ud800"]', "[0]", None, None),
        (b'"\\ud800"', "the body", None, None),
    ],
)
def test_lone_surrogates_are_refused_naming_where(
    body: bytes, path: str, row: int | None, field: str | None
) -> None:
    for text in (body, body.replace(b"{", b'{"x":NaN,', 1)):  # with NaN: the fallback decoder
        with pytest.raises(BodyRefused) as refused:
            decode(text)
        error = refused.value.error
        assert error.code == "invalid" and error.details["path"] == path
        assert (error.details["row"], error.details["field"]) == (row, field)
        assert json_bytes(error.details) and error.message.encode()


def test_paired_surrogate_escapes_are_text() -> None:
    assert decode(b'{"a":NaN,"b":"\\ud83d\\ude00"}')["b"] == "\U0001f600"


@pytest.mark.parametrize(
    "body",
    [
        b"\xef\xbb\xbf{}",
        b'{"a":"\xff"}',
        b'{"a":"\xed\xa0\x80"}',  # a surrogate written in UTF-8 bytes
        b"[" * 10_000 + b"]" * 10_000,
        b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
        b"{",
    ],
)
def test_what_is_not_json_is_a_decode_error(body: bytes) -> None:
    with pytest.raises(json.JSONDecodeError):
        decode(body)


def test_numbers_decode_as_orjson_reads_them() -> None:
    big = b'{"a":NaN,"b":123456789012345678901234567890,"c":18446744073709551615,"d":1e400}'
    decoded = decode(big)
    assert decoded["b"] == 1.2345678901234568e29 and decoded["c"] == 2**64 - 1
    assert decoded["d"] == math.inf
    assert decode(b'{"a":NaN,"b":' + b"9" * 5000 + b"}")["b"] == math.inf


def test_locations_name_rows_and_fields_only_for_predict_bodies() -> None:
    assert location(("rows", 3, "plan")) == "rows[3].plan"
    assert location(()) == "the body"
    assert row_and_field(("dataframe_records", 2, "x")) == (2, "x")
    assert row_and_field(("inputs", 0, "data", 5)) == (None, None)

"""Request bodies decoded with orjson's rules, and what an error may quote (issue 11).

A body orjson refuses is decoded again by the standard library (for ``NaN``), held to
orjson's rules otherwise; a lone UTF-16 surrogate anywhere is refused naming where.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from functools import partial
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelcycle.serving import _json as json_module
from modelcycle.serving._encode import json_bytes
from modelcycle.serving._errors import BodyRefused
from modelcycle.serving._json import (
    LARGE_BODY_BYTES,
    PIECE_BYTES,
    _pieces,
    decode,
    decode_in_pieces,
    location,
    row_and_field,
)
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


# -- large bodies, decoded in pieces ---------------------------------------------------


def outcome(function: Callable[[bytes], Any], body: bytes) -> tuple[str, str]:
    """What ``function`` makes of ``body``: the document's repr, or the error's type and
    text (``repr`` tells ``nan`` and ``-0.0`` apart, and keeps dict order)."""
    try:
        return "decoded", repr(function(body))
    except BodyRefused as refused:
        return "refused", refused.error.message
    except json.JSONDecodeError as error:
        return type(error).__name__, str(error)


#: Texts that look like the places a body is cut: in keys and values they must not be cut.
TRICKY_TEXT = st.text(
    alphabet=st.sampled_from(list('},{],[,:" \\\n\tab\u00e9\U0001f600')), max_size=12
)
CELLS = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_infinity=True)
    | TRICKY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TRICKY_TEXT, inner, max_size=3),
    max_leaves=6,
)
ROWS = st.lists(st.dictionaries(TRICKY_TEXT, CELLS, max_size=4), max_size=12)
BODIES = st.one_of(
    st.fixed_dictionaries({"rows": ROWS}),
    st.fixed_dictionaries({"dataframe_records": ROWS}),
    st.fixed_dictionaries({"columns": st.dictionaries(TRICKY_TEXT, st.lists(CELLS, max_size=5))}),
    st.fixed_dictionaries({"inputs": st.lists(CELLS, max_size=12)}),
    st.fixed_dictionaries({"data": st.lists(st.lists(CELLS, max_size=3), max_size=8)}),
)
LAYOUTS = st.sampled_from([{}, {"separators": (",", ":")}, {"indent": 1}, {"indent": "\t"}])
#: Edits that turn a body into an attacker's near miss: a stray or missing bracket or comma,
#: a key added before or after, bytes that are not UTF-8, a lone surrogate, whitespace.
EDITS = st.sampled_from(
    [b",", b"]", b"}", b"[", b"{", b'"', b"\\", b'"k":1,', b',"k":[1]', b"\xff", b"\\ud800", b" "]
)


@settings(max_examples=400, deadline=None)
@given(
    document=BODIES,
    layout=LAYOUTS,
    piece_bytes=st.integers(1, 40),
    edit=st.none() | st.tuples(EDITS, st.floats(0, 1), st.booleans()),
)
def test_pieces_decode_exactly_what_decode_does(
    document: dict[str, Any],
    layout: dict[str, Any],
    piece_bytes: int,
    edit: tuple[bytes, float, bool] | None,
) -> None:
    body = json.dumps(document, **layout).encode()  # NaN and Infinity as Python writes them
    if edit is not None:  # insert, or replace the byte at, a point of the body
        text, where, replace = edit
        at = int(where * len(body))
        body = body[:at] + text + body[at + int(replace) :]
    assert outcome(lambda b: decode_in_pieces(b, piece_bytes), body) == outcome(decode, body)


@pytest.mark.parametrize(
    "body",
    [
        b'{"rows": [1], [2]}',  # each piece one wrapped list, never two
        b'{"rows": [{"a": 1}], [{"b": 2}]}',
        b'{"rows": [{"a": 1},]}',  # a trailing comma: an empty last piece
        b'{"rows": [,{"a": 1}]}',
        b'{"rows": [{"a": 1},,{"b": 2}]}',
        b'{"rows": [{"a": 1}], "rows": [{"b": 2}]}',  # the same key twice: the last wins
        b'{"rows": [{"a": 1}], "more": [{"b": 2}]}',
        b'{"columns": {"a": [1]}, {"b": [2]}}',
        b'{"columns": {"a": [1], "a": [2], "b": [3]}}',
        b'{"columns": {"a": [1],}}',
        b'{"rows": [{"a": 1}, {"a": "\\ud800"}]}',  # a lone surrogate in a later piece
        b'{"rows": [{"a": 1}, {"a": "\xff"}]}',  # bytes that are not UTF-8
        b'{"rows": [{"a": 1}, {"a": NaN}]}',
        b'{"rows": [{"a": 1}, {"a": 1}]}' + b" " * 1000,  # more spaces than the tail read
        b'{"rows": [{"a": 1}, {"a": ' + b"9" * 5000 + b"}]}",
        b'\xef\xbb\xbf{"rows": [{"a": 1}, {"a": 2}]}',  # a byte order mark
        b'{"r\\u006fws": [{"a": 1}, {"a": 2}]}',  # an escaped key: decoded whole
    ],
)
def test_pieces_of_near_miss_bodies_decode_as_the_whole_does(body: bytes) -> None:
    for piece_bytes in (1, 3, 8, 10_000):
        assert outcome(partial(decode_in_pieces, piece_bytes=piece_bytes), body) == outcome(
            decode, body
        ), piece_bytes


@pytest.mark.parametrize("depth", [1019, 1020, 1021, 1022, 1023, 1024])
def test_pieces_nest_as_deep_as_the_whole_body(depth: int) -> None:
    """Each piece is wrapped as deep as the body held it: the same nesting is refused."""
    row = b"[" * depth + b"1" + b"]" * depth
    body = b'{"rows": [' + row + b", " + row + b"]}"

    def nesting(function: Callable[[bytes], Any]) -> tuple[int, int] | str:
        try:
            rows = function(body)["rows"]
        except json.JSONDecodeError as error:
            return str(error)
        cell, levels = rows[1], 0
        while isinstance(cell, list):  # not repr or ==: either would recurse too deep
            cell, levels = cell[0], levels + 1
        return len(rows), levels

    assert nesting(partial(decode_in_pieces, piece_bytes=1)) == nesting(decode)


def test_a_maximum_size_body_is_decoded_in_pieces_without_the_whole_decoder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = [
        {"x": index * 0.1, "plan": f"p{index % 7}", "note": "},{" * (index % 3) + "." * 99}
        for index in range(10_000)
    ]
    body = orjson.dumps({"rows": rows})
    assert len(body) > 4 * LARGE_BODY_BYTES
    pieces = list(_pieces(body, 9, len(body) - 2, PIECE_BYTES, b"},"))
    assert len(pieces) >= len(body) // PIECE_BYTES and max(map(len, pieces)) < PIECE_BYTES + 200

    def whole(_: bytes) -> Any:
        raise AssertionError("decoded whole")

    monkeypatch.setattr(json_module, "decode", whole)
    assert decode_in_pieces(body) == {"rows": rows}

"""JSON out of the server, whatever the dtype, order, stride or text (issue 11).

The converter (:func:`json_ready`, :func:`plain`, :func:`json_bytes`) is checked against
a reference built element by element, over arrays of every dtype NumPy has, seen
through every kind of view.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from modelcycle.serving._encode import json_bytes, json_ready, plain, quoted, shown_text

DTYPES = st.one_of(
    hnp.boolean_dtypes(),
    hnp.integer_dtypes(endianness="?"),
    hnp.unsigned_integer_dtypes(endianness="?"),
    hnp.floating_dtypes(endianness="?", sizes=(16, 32, 64)),
    hnp.complex_number_dtypes(endianness="?"),
    hnp.datetime64_dtypes(endianness="?"),
    hnp.timedelta64_dtypes(endianness="?"),
    hnp.unicode_string_dtypes(endianness="?"),
    hnp.byte_string_dtypes(),
)
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
#: Text that may hold lone surrogates (Hypothesis leaves them out unless asked).
TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=8)


def _view(array: np.ndarray, how: str) -> np.ndarray:
    """``array`` seen another way: another order, stride, byte order or a zero stride."""
    if how == "fortran":
        return np.asfortranarray(array)
    if how == "transposed":
        return array.T
    if how == "every other" and array.ndim:
        return array[::2]
    if how == "reversed" and array.ndim:
        return array[::-1]
    if how == "broadcast" and array.ndim and array.shape[0]:
        return np.broadcast_to(array[:1], (3, *array.shape[1:]))
    if how == "swapped bytes":
        return array.astype(array.dtype.newbyteorder("S"))
    if how == "a column of fortran" and array.ndim == 2:
        return np.asfortranarray(array)[:, -1:]
    return array


VIEWS = st.sampled_from(
    [
        "as is",
        "fortran",
        "transposed",
        "every other",
        "reversed",
        "broadcast",
        "swapped bytes",
        "a column of fortran",
    ]
)


def _element(value: Any) -> Any:
    """One NumPy element as JSON reads it back (the reference, independent of plain)."""
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else str(np.datetime_as_string(value))
    if isinstance(value, np.timedelta64):
        if np.isnat(value):
            return None
        if np.datetime_data(value.dtype)[0] in ("Y", "M"):
            return str(value.astype(str))
        return float(value / np.timedelta64(1, "s"))
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, np.complexfloating):
        return str(complex(value))
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return str(value).encode("utf-8", "backslashreplace").decode("utf-8")


def _reference(array: np.ndarray) -> Any:
    if array.ndim == 0:
        return _element(array[()])
    return [_reference(array[index, ...]) for index in range(array.shape[0])]


@settings(max_examples=400, deadline=None)
@given(array=DTYPES.flatmap(lambda dtype: hnp.arrays(dtype, SHAPES)), how=VIEWS)
def test_any_array_of_any_dtype_order_or_stride_is_written(array: np.ndarray, how: str) -> None:
    view = _view(array, how)
    expected = _reference(view)
    assert orjson.loads(json_bytes(json_ready(view))) == expected
    assert orjson.loads(json_bytes({"p": view})) == {"p": expected}  # not through json_ready
    assert orjson.loads(orjson.dumps(plain(view))) == expected  # plain needs no option


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # past 64 bits too
    st.floats(),
    TEXT,
    st.binary(max_size=8),
    st.floats(width=32).map(np.float32),
    st.integers(-128, 127).map(np.int8),
    st.booleans().map(np.bool_),
    TEXT.map(np.str_),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.one_of(TEXT, st.integers()), inner, max_size=4)
    ),
    max_leaves=20,
)


def _expected(value: Any) -> Any:
    if isinstance(value, dict):
        return {_key(k): _expected(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expected(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        number = int(value)
        if -(2**63) <= number < 2**64:
            return number
        return float(number) if abs(number) < 2**1023 else None
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def _key(key: Any) -> str:
    if isinstance(key, str):
        return str(_expected(key))
    return json.dumps(_expected(key))


@settings(max_examples=300, deadline=None)
@given(values=st.lists(VALUES, max_size=6))
def test_object_arrays_and_nested_values_are_written(values: list[Any]) -> None:
    array = np.empty(len(values), dtype=object)
    array[:] = values
    expected = [_expected(value) for value in values]
    assert orjson.loads(json_bytes(json_ready(array))) == expected
    assert orjson.loads(json_bytes(values)) == expected


@pytest.mark.parametrize(
    ("text", "shown"),
    [("plain", "plain"), ("a\ud800b", "a\\ud800b"), ("\udfff" * 3, "\\udfff" * 3)],
)
def test_text_with_lone_surrogates_is_escaped(text: str, shown: str) -> None:
    assert shown_text(text) == shown and shown_text(text).encode()
    assert quoted(text).encode() and quoted("y" * 500).endswith("(500 characters)")

"""What leaves the server as JSON: model output and error details, whatever their types.

Models answer with arrays of any dtype, memory order, stride or byte order (LightGBM's
``predict_proba`` is Fortran-ordered; a micro-batch hands each request a view), with
NumPy scalars, ``bytes`` labels or arbitrary objects in object arrays; clients send
text that may hold lone UTF-16 surrogates. One mechanism writes all of it:

- :func:`plain` turns any value into JSON's own types (lists, dicts with text keys,
  text, 64-bit integers, floats, booleans, ``None``), escaping what JSON cannot hold;
- :func:`json_bytes` writes a value with orjson, handing it :func:`plain` for what
  orjson cannot write, and writing the whole value through :func:`plain` when orjson
  refuses something without asking (a lone surrogate, an integer past 64 bits);
- :func:`json_ready` is how a model's output array goes into a body: numbers stay
  an array that orjson writes natively (an :class:`orjson.Fragment`), the rest
  becomes lists.

Every response body, error body and prediction-log value is written this way, so no
model output and no client input can make rendering fail. NumPy's own serialisation
in orjson is used only through :func:`json_ready` (for numbers): orjson writes a
datetime64 ``NaT`` as a date, and refuses other orders and byte orders.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime, time
from typing import Any

import numpy as np
import orjson

#: Characters of a client's text shown in an error message before it is cut.
SHOWN_CHARS = 120

_INT64_MIN = -(2**63)
_UINT64_MAX = 2**64 - 1
#: Arrays whose ``tolist()`` gives JSON's own types (floats, integers, booleans).
_NATIVE_KINDS = frozenset("fiub")
_NONE = type(None)
#: Types written as they are, with nothing to check.
_SIMPLE: frozenset[type] = frozenset({_NONE, bool, float})
#: JSON's own scalar types (integers and text still to be checked).
_SCALARS: frozenset[type] = _SIMPLE | {int, str}
#: Deepest nesting :func:`plain` follows; deeper values are shown as a summary.
_MAX_DEPTH = 64


def safe_text(text: str) -> str:
    r"""``text`` with every lone UTF-16 surrogate written as its ``\udXXX`` escape.

    Examples
    --------
    >>> print(safe_text("a\ud800b"))
    a\ud800b
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def shown_text(text: str, limit: int = SHOWN_CHARS) -> str:
    """A client's text as an error may quote it: surrogates escaped, cut after ``limit``.

    Examples
    --------
    >>> shown_text("x" * 200, limit=5)
    'xxxxx... (200 characters)'
    """
    if len(text) > limit:
        return safe_text(text[:limit]) + f"... ({len(text)} characters)"
    return safe_text(text)


def quoted(text: str, limit: int = SHOWN_CHARS) -> str:
    r"""A client's text quoted for an error message: its ``repr`` (surrogates escaped), cut.

    Examples
    --------
    >>> print(quoted("a\ud800"), quoted("x" * 200, limit=3))
    'a\ud800' 'xxx'... (200 characters)
    """
    if len(text) > limit:
        return f"{text[:limit]!r}... ({len(text)} characters)"
    return repr(text)


def _integer(value: int) -> int | float:
    if _INT64_MIN <= value <= _UINT64_MAX:
        return value
    return float(value) if abs(value) < 2**1023 else math.copysign(math.inf, value)


def _bytes(value: bytes | bytearray | memoryview) -> str:
    return bytes(value).decode("utf-8", "backslashreplace")


def _array(array: np.ndarray[Any, Any], depth: int) -> Any:
    kind = array.dtype.kind
    if kind in _NATIVE_KINDS and array.dtype.itemsize <= 8:
        return array.tolist()  # any order, stride or byte order; float16 as float
    if kind == "M":  # ISO 8601 text at the array's own precision (in native byte order:
        # datetime_as_string misreads swapped bytes)
        native = array.astype(array.dtype.newbyteorder("="))
        return _missing_as_none(np.datetime_as_string(native), native, depth)
    if kind == "m":  # durations in seconds (tolist() gives integers for nanoseconds)
        try:
            seconds = array / np.timedelta64(1, "s")
        except TypeError:  # years and months last no fixed number of seconds: as text
            return _missing_as_none(array.astype(str), array, depth)
        return plain(seconds.tolist(), depth + 1)
    return plain(array.tolist(), depth + 1)


def _missing_as_none(text: Any, times: np.ndarray[Any, Any], depth: int) -> Any:
    """The text of each time, ``None`` where it is NaT (not a time)."""
    cells = np.array(text, dtype=object)
    cells[np.isnat(times)] = None
    return plain(cells.tolist(), depth + 1)


def _scalar(value: np.generic) -> Any:
    if isinstance(value, np.datetime64 | np.timedelta64):  # timedelta64 is an integer too
        return _array(np.asarray(value), 0)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return _integer(int(value))
    if isinstance(value, np.floating):
        return float(value)
    return safe_text(str(value))  # complex, void


def _already_plain(items: list[Any]) -> bool:
    """Whether a list holds only JSON's own scalars, each writable (checked at C speed)."""
    kinds = set(map(type, items))
    if kinds <= _SIMPLE:
        return True
    if not kinds <= _SCALARS:
        return False
    if int in kinds:
        whole = items if len(kinds) == 1 else [item for item in items if type(item) is int]
        if min(whole) < _INT64_MIN or max(whole) > _UINT64_MAX:
            return False
    if str in kinds:
        text = items if len(kinds) == 1 else [item for item in items if type(item) is str]
        try:
            "".join(text).encode("utf-8")
        except UnicodeEncodeError:
            return False
    return True


def plain(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON's own types: what orjson writes with no option and no hook.

    Arrays of any dtype, order or stride become (nested) lists; NumPy scalars their
    Python values; ``bytes`` UTF-8 text (undecodable bytes escaped); text has lone
    surrogates escaped; integers past 64 bits become floats; mapping keys become
    text; datetime64 ISO 8601 text (``NaT``: ``None``), timedelta64 seconds; other
    dates their ISO 8601 text; anything else its ``str``.

    Examples
    --------
    >>> import numpy as np
    >>> plain({"p": np.asfortranarray(np.eye(2, dtype=np.float32)), 1: b"yes"})
    {'p': [[1.0, 0.0], [0.0, 1.0]], '1': 'yes'}
    """
    kind = type(value)
    if kind in _SIMPLE:
        return value
    if kind is str:
        return safe_text(value)
    if kind is list and (_already_plain(value) or depth > _MAX_DEPTH):
        return value if depth <= _MAX_DEPTH else f"<list nested deeper than {_MAX_DEPTH}>"
    if kind is list:
        return [plain(item, depth + 1) for item in value]
    if kind is np.ndarray:
        return _array(value, depth)
    return _converted(value, depth)


def _converted(value: Any, depth: int) -> Any:
    """:func:`plain` of a value that is not already plain (subclasses, containers...)."""
    if isinstance(value, bool | float):  # NumPy's float64 is a float
        return bool(value) if isinstance(value, bool) else float(value)
    if isinstance(value, str):  # NumPy's str_ too (whose str() drops trailing NULs)
        return safe_text(str.__str__(value))
    if isinstance(value, int):
        return _integer(int(value))
    if depth > _MAX_DEPTH:
        return f"<{type(value).__name__} nested deeper than {_MAX_DEPTH}>"
    if isinstance(value, bytes | bytearray | memoryview):  # NumPy's bytes_ too
        return _bytes(value)
    if isinstance(value, np.ndarray):
        return _array(value, depth)
    if isinstance(value, np.generic):
        return _scalar(value)
    if isinstance(value, Mapping):
        return {_key(key): plain(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = list(value)
        return items if _already_plain(items) else [plain(item, depth + 1) for item in items]
    if isinstance(value, orjson.Fragment):
        return plain(orjson.loads(value.contents), depth + 1)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return safe_text(str(value))


def _key(key: Any) -> str:
    if isinstance(key, str):
        return safe_text(str.__str__(key))
    found = plain(key)
    return found if isinstance(found, str) else orjson.dumps(found).decode()


def json_ready(array: np.ndarray[Any, Any]) -> Any:
    """A model's output array as a body written by :func:`json_bytes` should hold it.

    Numbers and booleans as JSON text orjson writes natively (after a copy to C order,
    native byte order and float64 when needed), embedded as an :class:`orjson.Fragment`;
    anything else as lists (:func:`as_lists`). Either way the text is :func:`plain`'s.

    Examples
    --------
    >>> import numpy as np
    >>> json_bytes({"p": json_ready(np.ones((2, 2), order="F")[:, :1])})
    b'{"p":[[1.0],[1.0]]}'
    """
    dtype = array.dtype
    if dtype.kind in _NATIVE_KINDS and dtype.itemsize <= 8 and array.ndim:
        # float16/32 as float64, so the digits are those of plain() and the log
        wanted = np.dtype(np.float64) if dtype.kind == "f" else dtype.newbyteorder("=")
        native = np.ascontiguousarray(array, dtype=wanted)
        return orjson.Fragment(orjson.dumps(native, option=orjson.OPT_SERIALIZE_NUMPY))
    return as_lists(array)


def as_lists(array: np.ndarray[Any, Any]) -> Any:
    """An array as (nested) lists that :func:`json_bytes` writes as it writes :func:`plain`.

    Cheaper than :func:`plain` for labels: an object or text array is only listed,
    and what orjson cannot write in it goes through :func:`plain` when written.
    """
    if array.dtype.kind in "OUS" and array.ndim:
        return array.tolist()
    return plain(array)


def _default(value: Any) -> Any:
    """orjson's hook: called for what it cannot write itself (see :func:`plain`)."""
    return plain(value)


def json_bytes(value: Any, *, sort_keys: bool = False) -> bytes:
    r"""``value`` as JSON bytes, whatever a model or client put in it (never raises for data).

    Examples
    --------
    >>> import numpy as np
    >>> print(json_bytes({"p": np.ones((2, 2), order="F")[:, 0], "label": "\ud800"}).decode())
    {"p":[1.0,1.0],"label":"\\ud800"}
    """
    option = orjson.OPT_SORT_KEYS if sort_keys else None
    try:
        return orjson.dumps(value, default=_default, option=option)
    except orjson.JSONEncodeError:  # a lone surrogate, a 65-bit integer, a non-text key...
        return orjson.dumps(plain(value), default=_default, option=option)


def json_text(value: Any) -> str:
    """:func:`json_bytes` as text."""
    return json_bytes(value).decode()

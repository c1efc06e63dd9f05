"""Request bodies decoded by orjson instead of the standard library's ``json``.

On a 1,000-row request, decoding was about a third of the server's time; orjson is
several times faster. orjson refuses the ``NaN`` and ``Infinity`` literals that Python's
``json.dumps`` writes (and that clients send for missing values), so such a body is
decoded again by ``json``, which accepts them; the values are then checked against the
signature like any other. That second decoder is held to orjson's rules otherwise:
the body must be UTF-8 (a byte order mark or invalid bytes are a decode error naming
the position), whole numbers beyond 64 bits become floats as orjson makes them, and
nesting too deep for it is a decode error, so FastAPI's 422 naming the position is
unchanged for every malformed body.

The one thing ``json`` accepts that text cannot hold is a lone UTF-16 surrogate (a
``"\\ud800"`` escape without its pair): such a body is refused with 422 ``invalid``
naming where it is (``rows[3].plan``, or the key that holds it), before any route
sees it, so no model, log or error message ever meets a string it cannot encode.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import orjson
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from modelcycle.core import ValidationError
from modelcycle.serving._encode import quoted, shown_text
from modelcycle.serving._errors import BodyRefused, UnsupportedMediaType
from modelcycle.serving._offload import ModelThreads

#: About how much of a large body one orjson call decodes: about 1 ms of holding
#: Python's lock, after which the event loop (answering ``/health/live``) gets its turn.
PIECE_BYTES = 1 << 18
#: A body longer than one piece is decoded in a thread, in pieces (:func:`decode_in_pieces`):
#: the hop to the thread and back (~0.1 ms) is then small beside the decoding.
LARGE_BODY_BYTES = PIECE_BYTES
_INT64_MIN = -(2**63)
_UINT64_MAX = 2**64 - 1
#: A ``\u`` escape of a UTF-16 surrogate (paired or not): only then can one be lone.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")

#: Where a value sits in a decoded body: keys and list positions from the top.
Path = tuple[str | int, ...]


def _integer(text: str) -> int | float:
    """A JSON integer as orjson decodes it: a float beyond the 64-bit range."""
    if len(text) > 20:  # beyond 64 bits (and never past int()'s 4,300-digit limit)
        return float(text)
    value = int(text)
    return value if _INT64_MIN <= value <= _UINT64_MAX else float(text)


def decode(body: bytes) -> Any:
    """The JSON document in ``body``, decoded with orjson's rules plus ``NaN``/``Infinity``.

    Raises
    ------
    json.JSONDecodeError
        Not JSON (invalid UTF-8, a byte order mark, nesting deeper than orjson allows).
    BodyRefused
        Text holding a lone UTF-16 surrogate (422 ``invalid`` naming where).
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as refused:
        try:
            text = body.decode("utf-8")
            found = json.loads(text, parse_int=_integer)
        except UnicodeDecodeError as error:
            raise json.JSONDecodeError("not valid UTF-8", "", error.start) from None
        except RecursionError:
            raise refused from None
    if _SURROGATE_ESCAPE.search(text):
        _refuse_lone_surrogates(found)
    return found


_SPACE = rb"[ \t\r\n]*"
#: ``{"key": [`` or ``{"key": {`` opening a body: one plain key holding a list or an object
#: (then the first character of its first item, if any).
_OPENING = re.compile(
    rb"\A"
    + _SPACE
    + rb"\{"
    + _SPACE
    + rb'"([A-Za-z_][A-Za-z0-9_]{0,63})"'
    + _SPACE
    + rb":"
    + _SPACE
    + rb"([\[{])"
    + _SPACE
    + rb"(.?)",
    re.DOTALL,
)
#: The end of such a body, looked for in its last :data:`_TAIL_BYTES` only.
_CLOSING = {
    b"[": re.compile(rb"\]" + _SPACE + rb"\}" + _SPACE + rb"\Z"),
    b"{": re.compile(rb"\}" + _SPACE + rb"\}" + _SPACE + rb"\Z"),
}
_TAIL_BYTES = 256
#: Where a piece may end, by the first character of a list's first item (see below).
_LIST_SEPARATORS = {b"{": b"},", b"[": b"],"}


def decode_in_pieces(body: bytes, piece_bytes: int = PIECE_BYTES) -> Any:
    """:func:`decode`'s document, decoded by orjson calls of about ``piece_bytes`` each.

    One orjson call holds Python's lock (the GIL) for as long as it decodes: 30 ms for a
    6 MB body of 10,000 rows, during which the event loop answers nothing, not even
    ``/health/live``, wherever the call runs. A body that is one key holding a list
    (``{"rows": [...]}``, ``{"dataframe_records": [...]}``, ``{"inputs": [...]}``) or an
    object of lists (``{"columns": {...}}``) is cut between items into pieces of about
    ``piece_bytes``, each decoded by its own call, so that a thread decoding it gives
    the lock up between pieces.

    The cut needs no parser. A piece ends at the first ``},`` (a list of objects), ``],``
    (a list of lists, or an object's members holding lists) or ``,`` (a list of other
    values) found ``piece_bytes`` after its start, and is decoded wrapped in brackets
    as deep as the body's (``[[...]]`` or ``[{...}]``); it must decode to exactly one
    wrapped list or object, with at least one item unless it is the only piece. That
    holds only when every cut is between two items of the key's list or object:
    decoding a piece starts in the state decoding the whole body had there, so a cut in
    a text leaves the text unterminated, a cut in a nested item leaves a bracket
    unclosed, and a piece that is not a run of whole items decodes to something else.
    Any other piece, any other body, is decoded whole by :func:`decode`, whose result
    or error it then is: the pieces change only how long the lock is held at a time.

    Examples
    --------
    >>> body = b'{"rows": [{"a": 1, "b": "},{"}, {"a": 2}, {"a": [3]}]}'
    >>> decode_in_pieces(body, piece_bytes=4) == decode(body)
    True
    >>> decode_in_pieces(b'{"columns": {"a": [1, 2], "b": ["x", "y"]}}', piece_bytes=1)
    {'columns': {'a': [1, 2], 'b': ['x', 'y']}}
    >>> decode_in_pieces(b'{"rows": [1, NaN]}', piece_bytes=1)  # decode's rules throughout
    {'rows': [1, nan]}
    >>> decode_in_pieces(b'{"rows": [1], [2]}', piece_bytes=1)  # not JSON: decode's error
    Traceback (most recent call last):
    ...
    json.decoder.JSONDecodeError: Expecting property name enclosed in double quotes: ...
    """
    opening = _OPENING.match(body)
    if opening is None:
        return decode(body)
    bracket = opening[2]
    closing = _CLOSING[bracket].search(body, max(opening.end(2), len(body) - _TAIL_BYTES))
    if closing is None:
        return decode(body)
    start, end = opening.end(2), closing.start()
    items: list[Any] | dict[str, Any]
    try:
        if bracket == b"[":
            items = []
            separator = _LIST_SEPARATORS.get(opening[3], b",")
            for piece in _pieces(body, start, end, piece_bytes, separator):
                decoded = orjson.loads(b"[[" + piece + b"]]")
                _check_piece(decoded, list, only=len(piece) == end - start)
                items.extend(decoded[0])
        else:
            items = {}
            for piece in _pieces(body, start, end, piece_bytes, b"],"):
                decoded = orjson.loads(b"[{" + piece + b"}]")
                _check_piece(decoded, dict, only=len(piece) == end - start)
                items.update(decoded[0])
    except (orjson.JSONDecodeError, _NotOnePiece):
        return decode(body)
    return {opening[1].decode("ascii"): items}


class _NotOnePiece(Exception):
    """A piece that is not a run of whole items (see :func:`decode_in_pieces`)."""


def _check_piece(decoded: list[Any], kind: type, *, only: bool) -> None:
    if len(decoded) != 1 or type(decoded[0]) is not kind or not (decoded[0] or only):
        raise _NotOnePiece


def _pieces(
    body: bytes, start: int, end: int, piece_bytes: int, separator: bytes
) -> Iterator[bytes]:
    """``body[start:end]`` cut after the first ``separator`` ``piece_bytes`` past each cut.

    The comma is left out; a ``}`` or ``]`` before it stays with its piece.
    """
    kept = len(separator) - 1
    while end - start > piece_bytes:
        found = body.find(separator, start + piece_bytes, end)
        if found < 0:
            break
        yield body[start : found + kept]
        start = found + len(separator)
    yield body[start:end]


def _refuse_lone_surrogates(document: Any) -> None:
    """Raise :class:`BodyRefused` naming the first text (key or value) with a lone surrogate."""
    stack: list[tuple[Any, Path]] = [(document, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            if not _encodable(value):
                raise BodyRefused(_surrogate_error(path, value))
        elif isinstance(value, dict):
            for key, item in reversed(value.items()):
                if not _encodable(key):
                    raise BodyRefused(_surrogate_error((*path, key), key))
                stack.append((item, (*path, key)))
        elif isinstance(value, list):
            stack.extend((item, (*path, index)) for index, item in reversed(list(enumerate(value))))


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def location(path: Path) -> str:
    """A decoded body's path as text: ``rows[3].plan`` (keys cut and escaped for display).

    Examples
    --------
    >>> location(("rows", 3, "plan"))
    'rows[3].plan'
    """
    parts = []
    for step in path:
        if isinstance(step, int):
            parts.append(f"[{step}]")
        else:
            parts.append(("." if parts else "") + shown_text(step, limit=60))
    return "".join(parts) or "the body"


def row_and_field(path: Path) -> tuple[int | None, str | None]:
    """The row and field a path names in a body of rows or columns, else ``(None, None)``.

    Examples
    --------
    >>> row_and_field(("rows", 3, "plan")), row_and_field(("columns", "plan", 3))
    ((3, 'plan'), (3, 'plan'))
    """
    if len(path) < 3:
        return None, None
    first, second, third = path[:3]
    if first in ("rows", "dataframe_records") and isinstance(second, int):
        return second, str(third)
    if first == "columns" and isinstance(third, int):
        return third, str(second)
    return None, None


def _surrogate_error(path: Path, text: str) -> ValidationError:
    where = location(path)
    row, field = row_and_field(path)
    named = f"row {row}, field {quoted(field, 60)}" if field is not None else where
    return ValidationError(
        f"{named}: got {quoted(text, 40)}, text with a lone UTF-16 surrogate; expected "
        "valid Unicode text (send UTF-8, and pair every \\uD800-\\uDFFF escape)",
        details={
            "path": where,
            "row": row,
            "field": None if field is None else shown_text(field, 60),
            "expected": "valid Unicode text",
        },
    )


class OrjsonRequest(Request):
    """A request whose ``json()`` is parsed once, by :func:`decode`.

    A body of :data:`LARGE_BODY_BYTES` or more is decoded by :func:`decode_in_pieces`
    in one of the app's model threads (``app.state.model_threads``), so that the event
    loop goes on answering meanwhile.
    """

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = await self.decoded(await self.body())
        return self._json

    async def decoded(self, body: bytes) -> Any:
        """``body`` decoded: on the event loop if small, else in pieces in a thread."""
        if len(body) < LARGE_BODY_BYTES:
            return decode(body)
        threads: ModelThreads | None = getattr(self.app.state, "model_threads", None)
        if threads is None:  # an app without model threads (a test's): the loop's pool
            return await asyncio.to_thread(decode_in_pieces, body)
        return await threads.run(decode_in_pieces, body)


class OrjsonRoute(APIRoute):
    """A route that hands its handler an :class:`OrjsonRequest`."""

    #: The request class handed to the handler (a subclass may decode more).
    request_class: type[OrjsonRequest] = OrjsonRequest

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        request_class = self.request_class

        async def decode_with_orjson(request: Request) -> Response:
            return await handler(request_class(request.scope, request.receive))

        return decode_with_orjson


#: Media types read as JSON besides ``application/json`` and ``application/*+json``.
JSON_MEDIA = frozenset({"text/json"})
_JSON_HEADER = (b"content-type", b"application/json")


def media_type(content_type: str | None) -> str:
    """The media type of a ``Content-Type`` value, lower case, without parameters."""
    return (content_type or "").partition(";")[0].strip().lower()


def is_json_media(media: str) -> bool:
    """Whether a media type names JSON (``""``: no ``Content-Type`` was sent)."""
    return (
        media in ("", "application/json")
        or media in JSON_MEDIA
        or (media.startswith("application/") and media.endswith("+json"))
    )


class LenientJsonRoute(OrjsonRoute):
    """A route whose JSON body may come without a ``Content-Type`` or with any JSON type.

    Protocol clients differ (``tritonclient`` sends none); FastAPI reads a body as JSON
    only when it is labelled ``application/json``. Any type in ``other_media`` is read
    as well (the subclass decides how); others are refused with 415 naming what is read.
    """

    #: Media types, besides JSON's, that this route reads.
    other_media: frozenset[str] = frozenset()

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        other_media = self.other_media

        async def read_as_json(request: Request) -> Response:
            if request.method in ("GET", "HEAD"):  # no body to read: any headers will do
                return await handler(request)
            encoding = media_type(request.headers.get("content-encoding"))
            if encoding not in ("", "identity"):  # a compressed body could be a bomb
                raise UnsupportedMediaType(
                    f"the request body is encoded {quoted(encoding, 40)}; expected it "
                    "uncompressed (no Content-Encoding)",
                    details={"content_encoding": shown_text(encoding, 40)},
                )
            media = media_type(request.headers.get("content-type"))
            if not is_json_media(media) and media not in other_media:
                raise UnsupportedMediaType(
                    f"the request body is {quoted(media, 60)}; expected JSON "
                    f"(application/json, or no Content-Type{_also(other_media)})",
                    details={"content_type": shown_text(media, 60)},
                )
            if media != "application/json":  # FastAPI reads only a body labelled JSON
                headers = [(k, v) for k, v in request.scope["headers"] if k != b"content-type"]
                scope = {**request.scope, "headers": [*headers, _JSON_HEADER]}
                request = Request(scope, request.receive)
            return await handler(request)

        return read_as_json


def _also(media: frozenset[str]) -> str:
    return "".join(f", or {name}" for name in sorted(media))

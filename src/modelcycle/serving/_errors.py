"""One JSON error shape for every HTTP error of our API: ``{"error": {"code", "message",
"details"}}``; a protocol's routes answer in that protocol's shape (see
:mod:`modelcycle.serving._error_shapes`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette._utils import get_route_path
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelcycle.core import (
    Conflict,
    IntegrityError,
    ModelcycleError,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from modelcycle.serving._encode import json_bytes, shown_text
from modelcycle.serving._error_shapes import shape_of

_LOG = logging.getLogger("modelcycle.serving")
BEARER = 'Bearer realm="modelcycle"'
BEARER_INVALID = 'Bearer realm="modelcycle", error="invalid_token"'


class PayloadTooLarge(ValidationError):
    """A request carries more rows or bytes than the server accepts."""

    code = "too_large"


class UnsupportedMediaType(ValidationError):
    """A request body of a content type the route does not read (answered 415)."""

    code = "unsupported_media_type"


class NotExplainable(ValidationError):
    """The served version cannot explain its predictions (no per-feature contributions)."""

    code = "not_explainable"


class NotReady(ModelcycleError):
    """The served models are not loaded yet (or a load failed)."""

    code = "not_ready"


class ModelFailed(ModelcycleError):
    """The served version raised while predicting validated inputs (answered 500 ``model_error``).

    The message names the model, version and exception type, never the exception's
    text (which may quote input values).
    """

    code = "model_error"


class Unauthenticated(PermissionDenied):
    """No usable API key came with the request (answered 401 with ``WWW-Authenticate``)."""

    code = "unauthenticated"


class RateLimited(ModelcycleError):
    """A key sent more requests than its rate allows (answered 429 with ``Retry-After``).

    Parameters
    ----------
    retry_after_s:
        Whole seconds until the key may send again.
    """

    code = "rate_limited"

    def __init__(
        self, message: str, *, retry_after_s: int, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message, details=details)
        self.retry_after_s = retry_after_s


#: HTTP status of each error class; the first match in order wins.
_STATUS: tuple[tuple[type[ModelcycleError], int], ...] = (
    (PayloadTooLarge, 413),
    (UnsupportedMediaType, 415),
    (NotExplainable, 400),
    (Unauthenticated, 401),
    (RateLimited, 429),
    (ValidationError, 422),
    (NotFound, 404),
    (Conflict, 409),
    (PermissionDenied, 403),
    (NotReady, 503),
    (IntegrityError, 500),
    (ModelFailed, 500),
)


class JSONBody(Response):
    """A JSON response rendered by orjson, whatever a model answered or a client sent.

    NumPy arrays of any dtype, order or stride, NumPy scalars, ``bytes`` and text with
    lone surrogates are all written (see :func:`~modelcycle.serving._encode.json_bytes`).
    """

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json_bytes(content)


def error_response(
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
    *,
    path: str = "",
) -> JSONBody:
    """The error body of a request to ``path``: ours, or its protocol's shape."""
    status, body = shape_of(path)(status, code, message, details)
    return JSONBody(body, status_code=status, headers=headers)


def headers_of(error: ModelcycleError) -> dict[str, str] | None:
    """Headers an error response carries: the auth challenge or when to retry."""
    if isinstance(error, Unauthenticated):
        reason = error.details.get("reason")
        invalid = reason not in (None, "missing", "malformed")
        return {"WWW-Authenticate": BEARER_INVALID if invalid else BEARER}
    if isinstance(error, RateLimited):
        return {"Retry-After": str(error.retry_after_s)}
    return None


def _count(request: Request, kind: str) -> None:
    """Count an error response in the app's metrics (every error, wherever it arose)."""
    service = getattr(request.app.state, "service", None)
    if service is not None:
        service.metrics.failed(kind)


def status_of(error: ModelcycleError) -> int:
    """The HTTP status for a modelcycle error."""
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return 500


async def _modelcycle_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ModelcycleError)
    _count(request, error.code)
    return error_response(
        status_of(error),
        error.code,
        error.message,
        error.details,
        headers_of(error),
        path=get_route_path(request.scope),
    )


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    if isinstance(error, BodyRefused):
        return await _modelcycle_error(request, error.error)
    if isinstance(error, BodyTooLarge):
        _count(request, PayloadTooLarge.code)
        return error_response(
            413,
            PayloadTooLarge.code,
            error.detail,
            {"limit": error.limit},
            path=get_route_path(request.scope),
        )
    code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
    _count(request, code)
    return error_response(
        error.status_code, code, str(error.detail), path=get_route_path(request.scope)
    )


async def _request_invalid(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    problems = [
        {"field": shown_text(".".join(map(str, e.get("loc", ())))), "expected": _said(e)}
        for e in error.errors()[:20]
    ]
    first = problems[0] if problems else {"field": "body", "expected": "a valid request"}
    message = f"the request is not valid: {first['field']}: {first['expected']}"
    _count(request, "invalid")
    return error_response(
        422, "invalid", message, {"errors": problems}, path=get_route_path(request.scope)
    )


def _said(problem: dict[str, Any]) -> str:
    """A framework problem's message, with the parser's reason for a JSON decode error."""
    message = str(problem.get("msg", "not valid"))
    reason = (problem.get("ctx") or {}).get("error")
    return shown_text(f"{message} ({reason})" if reason else message)


async def _unexpected(request: Request, error: Exception) -> Response:
    _LOG.exception("unexpected error answering %s %s", request.method, request.url.path)
    _count(request, "internal")
    return error_response(
        500,
        "internal",
        f"internal error ({type(error).__name__})",
        path=get_route_path(request.scope),
    )


def install_error_handlers(app: FastAPI) -> None:
    """Make every error, ours or the framework's, answer with the one JSON shape.

    An unexpected exception is answered 500 ``internal`` by :class:`KeepAlive`, so the
    client's keep-alive connection stays usable (Starlette's last-resort handler
    re-raises, and uvicorn then closes the connection).
    """
    app.add_exception_handler(ModelcycleError, _modelcycle_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(Exception, _unexpected)
    app.add_middleware(KeepAlive)


class KeepAlive:
    """ASGI middleware answering an unexpected exception with 500 ``internal``, and
    swallowing it, so the connection it came on stays open.

    An exception after the response started (nothing can be answered then) is raised
    again, as before.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as error:
            if started:
                raise
            response = await _unexpected(Request(scope), error)
            await response(scope, receive, send)


class BodyRefused(HTTPException):
    """A body refused while it was decoded, answered as its :class:`ModelcycleError`.

    An ``HTTPException`` because FastAPI re-raises those from body decoding, where any
    other exception would become a generic 400.
    """

    def __init__(self, error: ModelcycleError) -> None:
        super().__init__(status_of(error), error.message)
        self.error = error


class BodyTooLarge(HTTPException):
    """A chunked body grew past the limit while it was read (answered 413 ``too_large``).

    An ``HTTPException`` because FastAPI re-raises those from body reading, where any
    other exception would become a generic 400.
    """

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(413, message)
        self.limit = limit


class BodyLimit:
    """ASGI middleware refusing request bodies over ``max_bytes`` with 413 before parsing.

    A declared ``Content-Length`` is checked up front (and the refusal counted in
    ``count``); a chunked body is counted as it arrives.
    """

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, count: Callable[[str], None] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.count = count

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send, int(declared))
            return
        await self.app(scope, self._counting(receive), send)

    def _counting(self, receive: Receive) -> Receive:
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise BodyTooLarge(self._message(seen), limit=self.max_bytes)
            return message

        return counted

    def _message(self, size: int) -> str:
        return (
            f"the request body has {size} bytes; at most {self.max_bytes} are accepted "
            "(send fewer rows per request or raise --max-body-bytes)"
        )

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, size: int) -> None:
        if self.count is not None:
            self.count(PayloadTooLarge.code)
        response = error_response(
            413,
            PayloadTooLarge.code,
            self._message(size),
            {"limit": self.max_bytes},
            path=get_route_path(scope),
        )
        await response(scope, receive, send)

"""Request bodies decoded by orjson instead of the standard library's ``json``.

On a 1,000-row request, decoding was about a third of the server's time; orjson is
several times faster. orjson refuses the ``NaN`` and ``Infinity`` literals that Python's
``json.dumps`` writes (and that clients send for missing values), so such a body is
decoded again by ``json``, which accepts them; the values are then checked against the
signature like any other. Malformed bodies still raise ``json.JSONDecodeError``, so
FastAPI's 422 naming the position is unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response


class OrjsonRequest(Request):
    """A request whose ``json()`` is parsed once, by orjson."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = orjson.loads(body)
            except orjson.JSONDecodeError:
                self._json = json.loads(body)
        return self._json


class OrjsonRoute(APIRoute):
    """A route that hands its handler an :class:`OrjsonRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def decode_with_orjson(request: Request) -> Response:
            return await handler(OrjsonRequest(request.scope, request.receive))

        return decode_with_orjson

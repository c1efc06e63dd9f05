"""The dashboard beside the prediction API on one port, and built on its first request."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

#: The dashboard's first path segments; ``with_dashboard`` sends everything else to the API.
PREFIXES = frozenset(
    {"", "login", "logout", "static", "runs", "compare", "models", "alerts", "retraining"}
    | {"audit", "users", "keys", "favicon.ico"}
)


def with_dashboard(api: ASGIApp, dashboard: ASGIApp) -> ASGIApp:
    """One ASGI app: the dashboard's paths (:data:`PREFIXES`) to ``dashboard``, the rest
    (``/v1``, ``/v2``, ``/invocations``, ``/health``, ``/metrics``, ``/api/2.0/mlflow``...)
    to ``api`` unchanged, with its own authentication; lifespan events go to ``api``."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            first = scope["path"].lstrip("/").split("/", 1)[0]
            if first in PREFIXES:
                await dashboard(scope, receive, send)
                return
        await api(scope, receive, send)

    return app


def built_on_first_request(build: Callable[[], ASGIApp]) -> ASGIApp:
    """An ASGI app that calls ``build()`` when its first request arrives, then hands every
    request to what it built (it gets no lifespan events, as the dashboard gets none).

    ``modelcycle serve`` mounts the dashboard so: importing and building it (Jinja, the
    pages, the lifecycle's actions: about 0.4 s) does not delay the server's start. The
    build runs in a thread, once, while the event loop goes on answering probes and
    predictions; a build that fails is tried again by the next request.
    """
    built: list[ASGIApp] = []
    lock = threading.Lock()

    def get() -> ASGIApp:
        with lock:
            if not built:
                built.append(build())
            return built[0]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        inner = built[0] if built else await asyncio.to_thread(get)
        await inner(scope, receive, send)

    return app

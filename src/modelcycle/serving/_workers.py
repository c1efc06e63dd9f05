"""Several server processes on one port (``modelcycle serve --workers N``).

uvicorn starts each worker process fresh (multiprocessing ``spawn``) and builds its app
from an import string, so the parent's options reach the workers the only way that
survives a spawn: one environment variable holding the whole, validated
:class:`WorkerConfig` as JSON (:data:`WORKER_CONFIG_ENV`). Each worker opens the
workspace itself, loads its models before it accepts a connection (so no worker answers
``not_ready`` while another is serving), writes its own log segments (their names are
unique) and flushes them when it stops. The variable holds the database URL (with its
password, if the URL has one) and the audit key when ``MODELCYCLE_AUDIT_KEY`` gave it
(the parent's environment held it already), readable like the rest of the process
environment by the same operating-system user only; the prediction-log salt and the
audit key file stay in their 0600 files.

Nagle's algorithm and keep-alive: with ``--workers`` uvicorn binds the listening socket
itself, without ``IPPROTO_TCP``; the sockets it accepts then lack ``TCP_NODELAY`` under
the asyncio event loop, and every response after the first on a keep-alive connection
waits for the client's delayed ACK (~40 ms on Linux; uvicorn issue #3149).
:class:`NoDelayHttpToolsProtocol` sets the option on every accepted connection,
whatever the path or the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from modelcycle.core import Settings, ValidationError
from modelcycle.serving._settings import ServeSettings

#: The environment variable carrying a worker's :class:`WorkerConfig`.
WORKER_CONFIG_ENV = "MODELCYCLE_SERVE_WORKER_CONFIG"
#: Response header naming the process that answered.
WORKER_HEADER = "X-Modelcycle-Worker"


class WorkerConfig(BaseModel):
    """Everything a worker process needs to build the same app as its parent.

    Examples
    --------
    >>> config = WorkerConfig(
    ...     workspace=Settings(home="/srv/ws"), serve=ServeSettings(models=("churn",)),
    ... )
    >>> WorkerConfig.from_env(config.to_env()).serve.models
    ('churn',)
    """

    # A refused value may hold the database URL: never echo it in the error.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    workspace: Settings
    serve: ServeSettings
    auth_required: bool = True

    def to_env(self) -> dict[str, str]:
        """The environment entries that carry this configuration to the workers."""
        return {WORKER_CONFIG_ENV: self.model_dump_json()}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WorkerConfig:
        """Read the configuration a parent ``modelcycle serve --workers N`` set."""
        text = (os.environ if environ is None else environ).get(WORKER_CONFIG_ENV)
        if not text:
            raise ValidationError(
                f"{WORKER_CONFIG_ENV} is not set; worker processes are started by "
                "'modelcycle serve --workers N', not directly"
            )
        try:
            return cls.model_validate_json(text)
        except ValueError as error:
            raise ValidationError(
                f"{WORKER_CONFIG_ENV} is not a valid configuration: {error}"
            ) from None


def no_delay(transport: asyncio.BaseTransport) -> None:
    """Turn Nagle's algorithm off on a TCP connection (nothing for other sockets)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):  # a connection already reset by the peer
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with ``TCP_NODELAY`` set on every connection."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        no_delay(transport)
        super().connection_made(transport)


class WorkerHeader:
    """ASGI middleware adding :data:`WORKER_HEADER` (the process id) to every response."""

    def __init__(self, app: ASGIApp, *, pid: int | None = None) -> None:
        self.app = app
        self.header = (WORKER_HEADER.lower().encode(), str(pid or os.getpid()).encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), self.header]
            await send(message)

        await self.app(scope, receive, send_with_header)

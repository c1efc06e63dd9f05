"""Who may call the server: API keys checked (and briefly cached), rate limited, authorized.

Authentication comes first, from the headers alone: :class:`Authenticator`, an ASGI
middleware, reads ``Authorization: Bearer <key>`` of every request whose path is not
open (the health probes, ``/metrics`` and the API's documentation: an exact list,
everything else needs a key, unknown paths included), finds the key's principal and
refuses with 401 or 429 before the route reads or parses a byte of the body. The route's
:func:`permission` dependency then checks the route's action on the route's model with
the principal the middleware handed over (403).

The request path does not read the database on every call: the outcome of a key's
check (its principal, or why it was refused) is remembered for
``auth_cache_ttl_s`` seconds, keyed by the key's SHA-256 (never its text). A key
revoked or expired, or a user disabled, is therefore refused within that time
rather than at once; set the TTL to 0 to check every request.

Each valid key draws from its own token bucket (``rate_limit_per_s`` on average,
``rate_limit_burst`` at once); an empty bucket answers 429 with ``Retry-After``.
Failed authentications draw from a bucket per client address
(``auth_failure_limit`` per ``auth_failure_window_s``); once it is empty, every request
from that address that needs a key is answered 429 without looking at its key, so
guessing keys or flooding the key lookups costs the guesser time, not the database.
The address is the peer as the server sees it (``scope["client"]``): behind a proxy,
the proxy's, unless uvicorn takes the client's from ``X-Forwarded-For``, which it does
only for proxies listed in ``--forwarded-allow-ips`` (default 127.0.0.1). Clients
sharing an address (one proxy, one NAT) share its allowance.

Refused credentials are counted in ``/metrics`` by reason and logged with at most
the key's public prefix.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import math
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, NoReturn, Protocol

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette._utils import get_route_path  # what the router matches: one path for both
from starlette.types import ASGIApp, Receive, Scope, Send

from modelcycle.core import ModelcycleError, ModelRef, PermissionDenied
from modelcycle.security import AuditEvent, Principal
from modelcycle.security._keys import key_prefix, looks_like_key
from modelcycle.serving._errors import (
    RateLimited,
    Unauthenticated,
    error_response,
    headers_of,
    status_of,
)
from modelcycle.serving._metrics import ServingMetrics

_LOG = logging.getLogger("modelcycle.serving")
_MAX_ENTRIES = 10_000
#: Documents the scheme in OpenAPI; the header itself is read by :class:`Gatekeeper`.
BEARER_SCHEME = HTTPBearer(auto_error=False, description="An API key: 'Bearer mc_...'.")
#: Paths of our routes answered without a key (the app adds its documentation's).
OPEN_PATHS = frozenset(
    {
        "/health/live",
        "/health/ready",
        "/v2/health/live",
        "/v2/health/ready",
        "/metrics",
        "/ready",  # the probes of load balancers and MLflow's scoring-server clients
        "/ping",
        "/health",
    }
)
#: Where :class:`Authenticator` leaves the principal in ``scope["state"]``.
_PRINCIPAL = "modelcycle.principal"


class AccessControl(Protocol):
    """What the server needs from :class:`~modelcycle.security.Security`."""

    def authenticate(self, key_text: str) -> Principal:
        """The principal of a key, or :class:`PermissionDenied` with ``details["reason"]``."""

    def authorize(self, principal: Principal, action: str, model: str | None = None) -> None:
        """Allow ``action`` on ``model`` or raise :class:`PermissionDenied`."""

    def audit_events(
        self,
        *,
        since: datetime | None = None,
        actor: str | None = None,
        target: str | None = None,
        action: str | None = None,
        limit: int | None = None,
    ) -> list[AuditEvent]:
        """Audit events oldest first, filtered."""


Outcome = Principal | PermissionDenied


class PrincipalCache:
    """Outcomes of key checks for ``ttl_s`` seconds, keyed by the key's SHA-256.

    At most ``max_entries`` are kept (expired ones go first, then the oldest).
    Used from the event loop only, so it needs no lock.
    """

    def __init__(
        self,
        ttl_s: float,
        *,
        max_entries: int = _MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        self._entries: dict[str, tuple[float, Outcome]] = {}

    def get(self, digest: str) -> Outcome | None:
        """The remembered outcome, or ``None`` when unknown or expired."""
        found = self._entries.get(digest)
        if found is None or found[0] <= self.clock():
            return None
        return found[1]

    def put(self, digest: str, outcome: Outcome) -> None:
        """Remember an outcome for the TTL (nothing when the TTL is 0)."""
        if self.ttl_s <= 0:
            return
        now = self.clock()
        if len(self._entries) >= self.max_entries:
            self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
            while len(self._entries) >= self.max_entries:
                del self._entries[next(iter(self._entries))]
        self._entries[digest] = (now + self.ttl_s, outcome)


class TokenBuckets:
    """One token bucket per key digest: ``rate_per_s`` tokens a second, at most ``burst``."""

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        *,
        max_keys: int = _MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate_per_s = rate_per_s
        self.burst = float(burst)
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, digest: str) -> float:
        """Take one token; return 0 when allowed, else the seconds until one is available."""
        now = self.clock()
        tokens = self._tokens(digest, now)
        if tokens < 1.0:
            self._buckets[digest] = (tokens, now)
            return (1.0 - tokens) / self.rate_per_s
        if digest not in self._buckets and len(self._buckets) >= self.max_keys:
            self._forget(now)
        self._buckets[digest] = (tokens - 1.0, now)
        return 0.0

    def _forget(self, now: float) -> None:
        """Make room: drop full buckets (they remember nothing), then the oldest tenth."""
        self._buckets = {
            k: v for k, v in self._buckets.items() if self._tokens(k, now) < self.burst
        }
        if len(self._buckets) >= self.max_keys:
            for key in list(self._buckets)[: max(1, self.max_keys // 10)]:
                del self._buckets[key]

    def wait(self, digest: str) -> float:
        """Seconds until ``digest`` has a token (0: it has one now); nothing is taken."""
        tokens = self._tokens(digest, self.clock())
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate_per_s

    def _tokens(self, digest: str, now: float) -> float:
        tokens, then = self._buckets.get(digest, (self.burst, now))
        return min(self.burst, tokens + (now - then) * self.rate_per_s)


def key_digest(key_text: str) -> str:
    """The SHA-256 (hex) of a presented key: what caches and buckets are keyed by."""
    return hashlib.sha256(key_text.encode()).hexdigest()


class Gatekeeper:
    """Authenticates, rate limits and authorizes the requests of one app.

    Parameters
    ----------
    control:
        Checks keys and permissions (a :class:`~modelcycle.security.Security`);
        ``None`` only when ``required`` is false.
    required:
        Whether requests need a key (false: every caller may do everything).
    cache:
        Remembered key checks.
    buckets:
        Per-key rate limits.
    metrics:
        Where refused credentials are counted.
    failures:
        Failed authentications allowed per client address.
    """

    def __init__(
        self,
        control: AccessControl | None,
        *,
        required: bool,
        cache: PrincipalCache,
        buckets: TokenBuckets,
        metrics: ServingMetrics,
        failures: TokenBuckets,
    ) -> None:
        self.control = control
        self.required = required
        self.cache = cache
        self.buckets = buckets
        self.metrics = metrics
        self.failures = failures

    async def authenticate(self, request: Request) -> Principal | None:
        """The request's principal, from its headers (``None`` when keys are not required).

        Raises
        ------
        Unauthenticated
            No key, a malformed header, or a key that is unknown, revoked or expired.
        RateLimited
            The client address failed too often lately, or the key's bucket is empty.
        """
        if not self.required or self.control is None:
            return None
        self._throttle(request)
        key = self._bearer(request)
        digest = key_digest(key)
        outcome = self.cache.get(digest)
        if outcome is None:
            outcome = await asyncio.to_thread(self._check, key)
            self.cache.put(digest, outcome)
        if isinstance(outcome, PermissionDenied):
            reason = str(outcome.details.get("reason", "unknown"))
            self._refuse(request, reason, outcome.message, key)
        wait = self.buckets.take(digest)
        if wait > 0:
            raise RateLimited(
                f"API key {key_prefix(key)} sent more than {self.buckets.rate_per_s:g} requests "
                f"per second; retry after {math.ceil(wait)} s",
                retry_after_s=max(1, math.ceil(wait)),
            )
        assert isinstance(outcome, Principal)
        return outcome

    def principal(self, request: Request) -> Principal | None:
        """The principal :class:`Authenticator` found for ``request``.

        Raises
        ------
        Unauthenticated
            Keys are required but the request was not authenticated (its path is
            open): refused rather than let through.
        """
        if not self.required or self.control is None:
            return None
        found = request.scope.get("state", {}).get(_PRINCIPAL)
        if not isinstance(found, Principal):
            raise Unauthenticated(
                f"{request.url.path} was not authenticated; send 'Authorization: Bearer <key>'",
                details={"reason": "missing"},
            )
        return found

    def check(
        self, principal: Principal | None, actions: tuple[str, ...], model: str | None
    ) -> None:
        """Allow when any of ``actions`` is allowed on ``model``; else the first refusal."""
        if principal is None or self.control is None:
            return
        refusals = []
        for action in actions:
            try:
                self.control.authorize(principal, action, model)
            except PermissionDenied as refused:
                refusals.append(refused)
            else:
                return
        raise refusals[0]

    def _check(self, key: str) -> Outcome:
        assert self.control is not None
        try:
            return self.control.authenticate(key)
        except PermissionDenied as refused:
            return refused

    def _throttle(self, request: Request) -> None:
        """429 when the client's address has used up its failed authentications."""
        wait = self.failures.wait(client_address(request))
        if wait > 0:
            self.metrics.auth_failed("throttled")
            raise RateLimited(
                f"too many failed authentications from {client_address(request)} (at most "
                f"{self.failures.burst:g}, then {60 * self.failures.rate_per_s:g} a minute); "
                f"retry after {math.ceil(wait)} s with a valid API key",
                retry_after_s=max(1, math.ceil(wait)),
                details={"reason": "too_many_failures"},
            )

    def _bearer(self, request: Request) -> str:
        header = request.headers.get("authorization")
        if not header:
            self._refuse(
                request,
                "missing",
                "this endpoint needs an API key: send 'Authorization: Bearer <key>' "
                "(create one with 'modelcycle keys create')",
            )
        scheme, _, key = header.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            self._refuse(
                request,
                "malformed",
                "the Authorization header is not 'Bearer <key>'; send the API key as a "
                "bearer token",
            )
        return key

    def _refuse(
        self, request: Request, reason: str, message: str, key: str | None = None
    ) -> NoReturn:
        """Count (also against the address), log (key prefix at most), raise Unauthenticated."""
        self.metrics.auth_failed(reason)
        client = client_address(request)
        self.failures.take(client)
        if key is None:
            who = "a request without a usable key"
        elif looks_like_key(key):
            who = f"API key {key_prefix(key)}"
        else:
            who = "a credential that is not a modelcycle key"
        _LOG.warning(
            "serving: refused %s (%s) for %s %s from %s",
            who,
            reason,
            request.method,
            request.url.path,
            client,
        )
        raise Unauthenticated(message, details={"reason": reason})


def client_address(request: Request) -> str:
    """Whom failed authentications are counted against: the peer's address, an IPv6
    peer's /64 network (one host commonly holds all of it)."""
    host = request.client.host if request.client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{host}/64", strict=False))
    return str(address)


class Authenticator:
    """ASGI middleware: authenticate from the headers before the route reads the body.

    Every HTTP request whose path (exactly, as the router matches it) is not in
    ``open_paths`` is authenticated by ``gatekeeper``; a refusal (401, 429) is answered
    here, without reading the body, and counted in the app's metrics. The principal is
    left in ``scope["state"]`` for :func:`permission`.
    """

    def __init__(self, app: ASGIApp, *, gatekeeper: Gatekeeper, open_paths: frozenset[str]) -> None:
        self.app = app
        self.gatekeeper = gatekeeper
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or get_route_path(scope) in self.open_paths:
            await self.app(scope, receive, send)
            return
        try:
            principal = await self.gatekeeper.authenticate(Request(scope))
        except ModelcycleError as refused:
            self.gatekeeper.metrics.failed(refused.code)
            response = error_response(
                status_of(refused),
                refused.code,
                refused.message,
                refused.details,
                headers_of(refused),
                path=get_route_path(scope),
            )
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})[_PRINCIPAL] = principal
        await self.app(scope, receive, send)


async def gatekeeper(request: Request) -> Gatekeeper:
    """The app's gatekeeper (built by ``create_app``)."""
    found: Gatekeeper = request.app.state.gatekeeper
    return found


def model_in_path(parameter: str) -> Callable[[Request], str]:
    """The model a route acts on: the name in path parameter ``parameter`` (a reference)."""

    def model(request: Request) -> str:
        return ModelRef.parse(request.path_params[parameter]).name

    return model


def permission(
    *actions: str, model: Callable[[Request], str | None] | None = None
) -> Callable[..., Awaitable[Principal | None]]:
    """A dependency allowing callers who may do any of ``actions`` on the route's model.

    ``model`` finds the model in the request; without it the actions are checked
    workspace-wide (listing, the audit log). The key was checked by
    :class:`Authenticator` before the body was read; the permission is checked here,
    once FastAPI has matched the route (and parsed its body), so only a caller with a
    valid key can make the server parse a body.

    Examples
    --------
    >>> router = APIRouter(dependencies=[Depends(permission("read"))])  # doctest: +SKIP
    """

    async def allowed(
        request: Request,
        gate: Annotated[Gatekeeper, Depends(gatekeeper)],
        _: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER_SCHEME)],
    ) -> Principal | None:
        principal = gate.principal(request)  # authenticated by Authenticator, before the body
        gate.check(principal, actions, model(request) if model is not None else None)
        return principal

    return allowed

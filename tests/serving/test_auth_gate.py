"""Authentication before the body, and failed authentications limited per address (issue 11).

The app is called as uvicorn calls it (an ASGI scope, ``receive`` and ``send``), with a
``receive`` that counts the body bytes the app takes: a request refused for its key
must take none. A real uvicorn server then answers 401 to a client that has sent only
the start of a 12 MB body (it would wait for the rest if the route read it first).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
from fastapi import FastAPI

import modelcycle as mc
from modelcycle.serving._auth import OPEN_PATHS, TokenBuckets, client_address
from tests.serving.conftest import make_app, running
from tests.serving.keys import Keys, make_keys

BIG = 12 * 1024 * 1024
PREDICT = "/v1/models/churn/predict"


@dataclass
class Exchange:
    """What the app answered, and how many body bytes it took from ``receive``."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    consumed: int = 0

    def json(self) -> Any:
        return orjson.loads(self.body)


def call_app(
    app: FastAPI,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    client: str = "192.0.2.1",
    chunk: int = 64 * 1024,
) -> Exchange:
    """Call ``app`` with one HTTP request, the body offered in chunks as uvicorn does."""
    sent = {**(headers or {}), "content-length": str(len(body))}
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in sent.items()],
        "client": (client, 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    exchange = Exchange()
    chunks = [body[i : i + chunk] for i in range(0, len(body), chunk)] or [b""]

    async def receive() -> dict[str, Any]:
        if not chunks:
            return {"type": "http.disconnect"}
        piece = chunks.pop(0)
        exchange.consumed += len(piece)
        return {"type": "http.request", "body": piece, "more_body": bool(chunks)}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            exchange.status = message["status"]
            exchange.headers = {k.decode(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            exchange.body += message.get("body", b"")

    anyio.run(app, scope, receive, send)
    return exchange


@pytest.fixture(scope="module")
def keys(served: mc.Workspace) -> Keys:
    return make_keys(served, "gate")


@pytest.fixture(scope="module")
def app(served: mc.Workspace, tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    return make_app(served, tmp_path_factory.mktemp("gate"), secure=True, models=("churn",))


def big_body() -> bytes:
    row = b'{"age": 60, "income": 52.5, "plan": "b"},'
    rows = row * (BIG // len(row))
    return b'{"rows": [' + rows[:-1] + b"]}"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing"),
        ("Basic dXNlcjpwYXNz", "malformed"),
        ("Bearer", "malformed"),
        ("Bearer not-a-key", "malformed"),
        ("Bearer mc_" + "A" * 43, "unknown"),
    ],
)
def test_a_large_body_without_a_valid_key_is_never_read(
    app: FastAPI, header: str | None, reason: str
) -> None:
    headers = {"content-type": "application/json"}
    if header is not None:
        headers["authorization"] = header
    answer = call_app(app, "POST", PREDICT, headers=headers, body=big_body())
    assert answer.status == 401, answer.body[:300]
    assert answer.json()["error"]["details"] == {"reason": reason}
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert answer.consumed == 0


def test_the_body_of_an_authenticated_request_is_read(app: FastAPI, keys: Keys) -> None:
    """The counting ``receive`` counts: a request with a valid key takes its whole body."""
    headers = {"content-type": "application/json", **_lower(keys.header("predictor", "valid"))}
    body = big_body()
    answer = call_app(app, "POST", PREDICT, headers=headers, body=body)
    assert answer.consumed == len(body)
    assert answer.status != 401


@pytest.mark.parametrize(
    "path",
    [
        "/health/live/",
        "/HEALTH/LIVE",
        "//health/live",
        "/health/live/../../v1/models",
        "/v1/models;/health/live",
        "/metrics/",
        "/health/live\x00",
        "/docs/../v1/audit",
        "/openapi.json/x",
        "/no/such/route",
        "/v1/models/churn/predict/",
    ],
)
def test_only_the_exact_open_paths_skip_the_key(app: FastAPI, path: str) -> None:
    answer = call_app(app, "GET", path)
    assert answer.status == 401, (path, answer.status, answer.body[:200])


@pytest.mark.parametrize(
    "path", sorted(OPEN_PATHS | {"/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"})
)
def test_open_paths_need_no_key(app: FastAPI, path: str) -> None:
    answer = call_app(app, "GET", path)
    probe = path.endswith("/ready") or path in ("/ping", "/health")
    assert answer.status == (503 if probe else 200)  # not started: not ready


def test_an_unknown_route_with_a_valid_key_is_404(app: FastAPI, keys: Keys) -> None:
    answer = call_app(app, "GET", "/no/such/route", headers=_lower(keys.header("admin", "valid")))
    assert answer.status == 404


def test_failed_authentications_are_limited_per_address(
    served: mc.Workspace, keys: Keys, tmp_path: Path
) -> None:
    app = make_app(
        served,
        tmp_path,
        secure=True,
        models=("churn",),
        auth_failure_limit=3,
        auth_failure_window_s=600,
    )
    wrong = _lower(keys.header("predictor", "wrong"))
    valid = _lower(keys.header("predictor", "valid"))
    attacker, other = "198.51.100.7", "198.51.100.8"
    statuses = [call_app(app, "GET", "/v1/models", headers=wrong, client=attacker).status]
    statuses += [call_app(app, "GET", "/v1/models", client=attacker).status]  # no key counts
    statuses += [call_app(app, "GET", "/v1/models", headers=wrong, client=attacker).status]
    assert statuses == [401, 401, 401]
    for headers in (wrong, valid):  # the key is not even looked at: no oracle for guesses
        limited = call_app(app, "POST", PREDICT, headers=headers, body=big_body(), client=attacker)
        assert limited.status == 429 and limited.consumed == 0
        assert limited.json()["error"]["details"] == {"reason": "too_many_failures"}
        assert 1 <= int(limited.headers["retry-after"]) <= 200
    assert call_app(app, "GET", "/health/live", client=attacker).status == 200
    assert call_app(app, "GET", "/v1/models", headers=wrong, client=other).status == 401
    metrics = call_app(app, "GET", "/metrics").body.decode()
    assert 'modelcycle_auth_failures_total{reason="throttled"} 2.0' in metrics


def test_failure_buckets_refill_over_the_window() -> None:
    now = [0.0]
    buckets = TokenBuckets(3 / 60.0, 3, clock=lambda: now[0])
    for _ in range(3):
        assert buckets.wait("a") == 0
        buckets.take("a")
    assert buckets.wait("a") == pytest.approx(20.0)  # one failure back every 20 s
    now[0] = 20.0
    assert buckets.wait("a") == 0 and buckets.wait("b") == 0


def test_full_buckets_are_forgotten_first() -> None:
    """An address still short of its allowance outlives those that refilled."""
    now = [0.0]
    buckets = TokenBuckets(1.0, 2, max_keys=10, clock=lambda: now[0])
    buckets.take("spent")
    buckets.take("spent")
    for index in range(9):
        buckets.take(f"refilled-{index}")
    now[0] = 1.5  # the others refill to 2 tokens; 'spent' has 1.5
    for index in range(9):
        buckets.take(f"new-{index}")
    assert sorted(buckets._buckets) == sorted(["spent", *(f"new-{i}" for i in range(9))])
    assert buckets._buckets["spent"][0] == 0.0  # its count is kept, not reset


@pytest.mark.parametrize(
    ("peer", "counted_as"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::2", "2001:db8:1:2::/64"),  # same /64: one allowance
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("testclient", "testclient"),
    ],
)
def test_client_address(peer: str, counted_as: str) -> None:
    from starlette.requests import Request

    scope = {"type": "http", "client": (peer, 1), "headers": []}
    assert client_address(Request(scope)) == counted_as
    if ":" in peer and "ffff" not in peer:
        assert ipaddress.ip_address(peer) in ipaddress.ip_network(counted_as)


@pytest.fixture(scope="module")
def server(app: FastAPI) -> Iterator[str]:
    with running(app) as base:
        yield base


def test_a_real_server_answers_401_before_the_body_arrives(server: str) -> None:
    """The client sends the head and 64 KiB of a 12 MB body, then waits for the answer."""
    host, port = server.removeprefix("http://").split(":")
    head = (
        f"POST {PREDICT} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {BIG}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(head + b'{"rows": [' + b" " * 65_000)
        answer = connection.recv(65_536)  # a socket.timeout here: the server awaited the body
    assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]
    assert b'"unauthenticated"' in answer


def _lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}

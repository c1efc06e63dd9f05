"""Hostile bodies against a real server over one keep-alive connection: never a 5xx (issue 11).

Before: ``{"rows":[{"whrswk":4e38}]}`` passed validation and failed in the model (500);
a lone surrogate in a refused value or a field name failed while the error was
rendered (500), and the next request on that keep-alive connection was reset. Here
several hundred bodies, seeded and hand-written, go to ``/v1`` predict, V2 infer,
``/invocations`` and ``/v1`` feedback through one reused ``httpx.Client``: each must
be answered 4xx in the one error shape, ``/health/live`` must answer after each, and
the server must never close the connection.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

import modelcycle as mc
from tests.serving.conftest import make_app, running
from tests.serving.shapes import refusal

ROW = {"age": 60, "income": 52.5, "plan": "b"}
V2 = {
    "inputs": [
        {"name": "age", "shape": [1], "datatype": "INT64", "data": [60]},
        {"name": "income", "shape": [1], "datatype": "FP64", "data": [52.5]},
        {"name": "plan", "shape": [1], "datatype": "BYTES", "data": ["b"]},
    ]
}
#: Route -> a valid body of it (what the fuzzer spoils).
ROUTES: dict[str, Any] = {
    "/v1/models/churn/predict": {"rows": [ROW, ROW]},
    "/v1/models/strict/predict": {"columns": {k: [v, v] for k, v in ROW.items()}},
    "/v2/models/churn/infer": V2,
    "/invocations": {"dataframe_split": {"columns": list(ROW), "data": [list(ROW.values())]}},
    "/v1/models/churn/feedback": {"labels": [{"inputs": ROW, "label": 1}]},
}
MAX_BODY = 2 * 1024 * 1024
JSON = {"content-type": "application/json"}


class Raw(str):
    """JSON text written into a body as it is (numbers JSON allows but Python cannot hold)."""


#: Values that once broke something, or could, and are refused wherever they go in a
#: body of these routes (``Raw``: JSON text written as it is).
HOSTILE: list[Any] = [
    "\ud800",
    "a\udfffb",
    "\udc00\ud800",
    1e308,
    -1e308,
    4e38,
    -4e38,
    Raw("1e400"),
    Raw("-1e400"),
    Raw("1" * 5000),
    float("inf"),
    float("-inf"),
    Raw("[" * 10_000 + "]" * 10_000),
    Raw('{"a":' * 10_000 + "1" + "}" * 10_000),
    Raw("[" * 900 + "]" * 900),
    True,
    [],
    [[1, 2], [3]],
    {"\ud800": 1},
    {"nested": {"deeper": [None, "\udfff"]}},
]
#: Odd values that are valid in some places (a missing value, negative zero, a whole
#: number past 64 bits, which JSON decoders read as a float, any text in a free-text
#: field): answered or refused, never failed.
ODD: list[Any] = [
    "x" * 300_000,
    "",
    "2024-13-45T99:99",
    None,
    float("nan"),
    -0.0,
    {},
    2**63,
    2**64,
    -(2**63) - 1,
    Raw("123456789012345678901234567890"),
    Raw("-123456789012345678901234567890"),
]


def encode(value: Any) -> bytes:
    """``value`` as JSON text: lone surrogates as ``\\u`` escapes, ``Raw`` as it is."""
    raws: list[str] = []

    def mark(item: Any) -> Any:
        if isinstance(item, Raw):
            raws.append(item)
            return f"\x00RAW{len(raws) - 1}\x00"
        if isinstance(item, dict):
            return {mark_key(k): mark(v) for k, v in item.items()}
        if isinstance(item, list):
            return [mark(v) for v in item]
        if isinstance(item, int) and not isinstance(item, bool) and abs(item) >= 2**63:
            return mark(Raw(str(item)))
        return item

    def mark_key(key: Any) -> Any:
        return mark(key) if isinstance(key, Raw) else key

    text = json.dumps(mark(value))  # ensure_ascii: a lone surrogate becomes "\ud800"
    for index, raw in enumerate(raws):
        text = text.replace(f'"\\u0000RAW{index}\\u0000"', raw)
    return text.encode()


def paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in ``value`` a fuzzed value may go (keys marked ``("key", name)``)."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*path, ("key", key))
            yield from paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*path, index))


def spoiled_at(value: Any, path: tuple[Any, ...], nasty: Any) -> Any:
    if not path:
        return nasty
    step, rest = path[0], path[1:]
    if isinstance(step, tuple):  # rename key step[1] to the nasty value (as text)
        name = nasty if isinstance(nasty, str) else json.dumps(nasty, default=str)[:50]
        return {(name if k == step[1] else k): v for k, v in value.items()}
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[step] = spoiled_at(value[step], rest, nasty)
    return copy


@dataclass(frozen=True)
class Case:
    """One hostile request."""

    route: str
    body: bytes
    headers: dict[str, str]
    why: str


def seeded_cases(count: int, values: list[Any], seed: int) -> list[Case]:
    """``count`` valid bodies, each spoiled in one place (a value or a key) by one of
    ``values``; the same cases for the same seed."""
    rng = random.Random(seed)
    cases = []
    for index in range(count):
        route = rng.choice(list(ROUTES))
        valid = ROUTES[route]
        path = rng.choice(list(paths(valid))[1:])  # never the whole body (hand-written)
        value = rng.choice(values)
        body = encode(spoiled_at(valid, path, value))
        cases.append(Case(route, body, JSON, f"seeded {index}: {path} <- {str(value)[:40]!r}"))
    return cases


def hand_written_cases() -> list[Case]:
    """The nasty bodies and headers a person would try first, on every route."""
    row = encode(ROUTES["/v1/models/churn/predict"])
    raw_bodies = [
        (b"", "empty"),
        (b"{", "truncated"),
        (b"not json", "not JSON"),
        (b"\xef\xbb\xbf" + row, "UTF-8 BOM"),
        (b'{"rows":[{"age":60,"income":52.5,"plan":"\xff\xfe"}]}', "invalid UTF-8 in text"),
        (b'{"rows":[{"age":60,"income":52.5,"plan":"\xed\xa0\x80"}]}', "UTF-8 of a surrogate"),
        (b'{"rows":[{"age":60,"income":52.5,"plan":"b"}],"rows":5}', "duplicate key, last bad"),
        (b'{"rows":[{"age":NaN,"income":52.5,"plan":"\\ud800"}]}', "NaN and a lone surrogate"),
        (b'{"rows":[{"age":60,"inc\\udc00ome":52.5,"plan":"b"}]}', "surrogate in a field name"),
        (b'{"rows":[{"whrswk":4e38}]}', "the issue's body"),
        (b'{"rows":[{"age":60,"income":4e38,"plan":"b"}]}', "beyond float32"),
        (b'{"rows":[{"age":60,"income":Infinity,"plan":"b"}]}', "Infinity"),
        (b'{"rows":[{"age":-Infinity,"income":1,"plan":"b"}]}', "-Infinity"),
        (b"null", "null"),
        (b"[]", "a list"),
        (b"0", "a number"),
        (b'"rows"', "a string"),
        (b"[" * 10_000 + b"]" * 10_000, "10,000 nested lists"),
        (b'{"a":' * 10_000 + b"1" + b"}" * 10_000, "10,000 nested objects"),
        (b'{"rows":[' + b"[" * 1000 + b"]" * 1000 + b"]}", "a row of 1,000 nested lists"),
        (b'{"rows":"' + b"x" * (MAX_BODY + 10) + b'"}', "a body past the size limit"),
        (b"\x00\x01\x02", "binary"),
        (b"\xff" * 64, "invalid UTF-8"),
        (b'{"rows":[{"\\ud800\\ud800":1}]}', "two high surrogates"),
    ]
    types = [
        JSON,
        {},
        {"content-type": "text/plain"},
        {"content-type": "application/x-www-form-urlencoded"},
        {"content-type": "multipart/form-data"},
        {"content-type": "application/xml"},
    ]
    cases = [Case(route, body, JSON, why) for route in ROUTES for body, why in raw_bodies]
    cases += [
        Case(route, row, headers, f"content type {headers}")
        for route in ROUTES
        for headers in types[1:]
    ]
    return cases


#: Odd but valid: these must be answered 2xx (negative zero, float32's maximum, ...).
VALID_ODDITIES = [
    ("/v1/models/churn/predict", b'{"rows":[{"age":-0.0,"income":-0.0,"plan":"b"}]}'),
    ("/v1/models/churn/predict", b'{"rows":[{"age":1,"income":3.4028234663852886e38,"plan":"b"}]}'),
    ("/v1/models/churn/predict", b'{"rows":[{"age":18446744073709551615,"income":1,"plan":"a"}]}'),
    ("/v1/models/churn/predict", b'{"rows":[{"age":2}],"rows":[{"age":1,"income":2,"plan":"b"}]}'),
    ("/v1/models/churn/predict", b'{"rows":[{"age":NaN,"income":1,"plan":"\\ud83d\\ude00"}]}'),
    ("/v1/models/strict/predict", b'{"rows":[{"age":60,"income":1e-320,"plan":"c"}]}'),
    ("/v2/models/churn/infer", encode(V2)),
    ("/invocations", b'{"dataframe_records":[{"age":60,"income":-0.0,"plan":"c"}]}'),
    ("/v1/models/churn/feedback", b'{"labels":[{"request_id":"x","label":1.0}]}'),
]
CHARSETS = ["application/json; charset=latin-1", "application/merge-patch+json"]


@pytest.fixture(scope="module")
def base(served: mc.Workspace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = make_app(
        served,
        tmp_path_factory.mktemp("fuzz") / "log",
        models=("churn", "strict"),
        max_body_bytes=MAX_BODY,
    )
    with running(app) as url:
        yield url


def _local_port(response: httpx.Response) -> int:
    """The client's port of the connection that carried ``response``."""
    stream = response.extensions["network_stream"]
    return int(stream.get_extra_info("client_addr")[1])


def _send_all(base: str, cases: list[Case]) -> tuple[Counter[int], set[int], list[str]]:
    """Send every case on one client, with ``/health/live`` after each: the statuses seen,
    the client ports used and every problem (a 5xx, a bad error shape, a dead server)."""
    statuses: Counter[int] = Counter()
    ports: set[int] = set()
    problems = []
    with httpx.Client(base_url=base, timeout=60) as http:
        for case in cases:
            answer = http.post(case.route, content=case.body, headers=case.headers)
            statuses[answer.status_code] += 1
            ports.add(_local_port(answer))
            if answer.status_code >= 400:
                try:
                    refusal(answer)  # its protocol's shape (issue 18)
                except AssertionError:
                    problems.append(f"{case.why}: error body {answer.text[:200]}")
                if len(answer.content) > 20_000:
                    problems.append(f"{case.why}: error body {answer.text[:200]}")
            if answer.status_code >= 500:
                problems.append(f"{case.why}: {answer.status_code} {answer.text[:200]}")
            if http.get("/health/live").status_code != 200:
                problems.append(f"{case.why}: /health/live did not answer")
    return statuses, ports, problems


def test_hostile_bodies_are_refused_on_one_connection(base: str) -> None:
    cases = hand_written_cases() + seeded_cases(320, HOSTILE, seed=11)
    started = time.perf_counter()
    statuses, ports, problems = _send_all(base, cases)
    seconds = time.perf_counter() - started
    print(
        f"\nfuzz: {len(cases)} hostile bodies in {seconds:.1f} s; {dict(sorted(statuses.items()))}"
    )
    assert problems == []
    assert len(cases) >= 300 and set(statuses) <= set(range(400, 500))
    assert len(ports) == 1  # the server never closed the keep-alive connection


def test_odd_values_are_answered_or_refused_never_failed(base: str) -> None:
    cases = seeded_cases(120, ODD, seed=12)
    cases += [Case(route, body, JSON, f"valid: {body[:60]!r}") for route, body in VALID_ODDITIES]
    cases += [
        Case(r, encode(b), {"content-type": t}, t) for t in CHARSETS for r, b in ROUTES.items()
    ]
    statuses, ports, problems = _send_all(base, cases)
    print(f"\nfuzz: {len(cases)} odd bodies; {dict(sorted(statuses.items()))}")
    assert problems == [] and len(ports) == 1
    with httpx.Client(base_url=base, timeout=60) as http:
        for route, body in VALID_ODDITIES:
            answer = http.post(route, content=body, headers=JSON)
            assert answer.status_code in (200, 202), (body[:80], answer.text)

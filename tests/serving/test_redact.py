"""Credentials never reach the server's logs: query parameters, headers, keys (issue 11)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from uvicorn.logging import AccessFormatter

import modelcycle as mc
from modelcycle.serving import log_config
from modelcycle.serving._redact import SecretFilter, redact
from tests.serving.conftest import free_port, http_ready
from tests.serving.keys import Keys, make_keys

SECRET = "s3cr3t-VALUE_42"


@pytest.mark.parametrize(
    "text",
    [
        f"/v1/models?api_key={SECRET}",
        f"/v1/models?API_KEY={SECRET}",
        f"/v1/models?Api-Key={SECRET}",
        f"/v1/models?api%5Fkey={SECRET}",
        f"/v1/models?api%5fKEY={SECRET}",
        f"/v1/models?api%255Fkey={SECRET}",  # encoded twice
        f"/v1/models?key={SECRET}",
        f"/v1/models?token={SECRET}",
        f"/v1/models?access_token={SECRET}",
        f"/v1/models?password={SECRET}",
        f"/v1/models?PassWord={SECRET}",
        f"/v1/models?client_secret={SECRET}",
        f"/v1/models?x=1&api_key={SECRET}&y=2",
        f"/v1/models?api_key=first&api_key={SECRET}",  # repeated
        f"/v1/models?explain=true;token={SECRET}",
        f"/v1/models?api_key%3D{SECRET}",  # '=' encoded: one odd parameter name
        f"/v1/models?api%5Fkey%3D{SECRET}",
        f"/v1/models?token={SECRET}#fragment",
        f"Authorization: Bearer {SECRET}",
        f"authorization=Basic {SECRET}",
        f"{{'authorization': 'Bearer {SECRET}', 'host': 'x'}}",
        f"[(b'authorization', b'Bearer {SECRET}')]",
        f"X-API-Key: {SECRET}",
        f"cookie: session={SECRET}",
        f"sent bearer {SECRET} to the server",
        f'"GET /v1/models?api_key={SECRET} HTTP/1.1" 401',
    ],
)
def test_credentials_are_redacted(text: str) -> None:
    cleaned = redact(text)
    assert SECRET not in cleaned and "<redacted>" in cleaned, cleaned


def test_keys_are_cut_to_their_prefix_anywhere() -> None:
    key = "mc_" + "Ab3_-" * 8 + "xyz"
    assert len(key) == 46
    cleaned = redact(f"POST /v1/models/{key}/predict from 1.2.3.4")
    assert key not in cleaned and key[:8] + "..." in cleaned
    assert redact(f"{key}x") == f"{key}x"  # not a key: 44 characters after 'mc_'


@pytest.mark.parametrize(
    "text",
    [
        "/v1/models/churn/predict?explain=true&top_k=3",
        "/v1/audit?since=2024-01-01&actor=alice&limit=100",
        "serving churn with version 1",
        "refused API key mc_abcde (revoked) for GET /v1/models from 127.0.0.1",
    ],
)
def test_other_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_the_filter_rewrites_uvicorn_access_records() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/v1/models?api%5Fkey={SECRET}&token={SECRET}", "1.1", 401),
        None,
    )
    assert SecretFilter().filter(record)
    line = AccessFormatter(fmt="%(message)s", use_colors=False).format(record)
    assert SECRET not in line and line.endswith('HTTP/1.1" 401')


def test_the_filter_rewrites_tracebacks() -> None:
    try:
        raise ValueError(f"could not open https://host/db?password={SECRET}")
    except ValueError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "failed: %s", ("boom",), sys.exc_info()
        )
    SecretFilter().filter(record)
    assert SECRET not in logging.Formatter().format(record)


def test_every_handler_of_the_log_config_filters() -> None:
    config = log_config()
    assert all("secrets" in handler["filters"] for handler in config["handlers"].values())
    assert config["loggers"]["modelcycle"]["handlers"] == ["default"]


@pytest.fixture(scope="module")
def keys(served: mc.Workspace) -> Keys:
    return make_keys(served, "redact")


def test_modelcycle_serve_logs_no_credential(
    served: mc.Workspace, keys: Keys, tmp_path: Path
) -> None:
    """The real command: its access log and messages name requests, never their secrets."""
    port = free_port()
    command = [sys.executable, "-m", "modelcycle", "-w", str(served.settings.home), "serve"]
    command += ["churn", "--port", str(port)]
    output = tmp_path / "serve.out"
    environment = {**os.environ, "MODELCYCLE_LOG_ROOT": str(tmp_path / "logs")}
    with open(output, "wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=environment)
    url = f"http://127.0.0.1:{port}"
    valid = keys.by_role["admin"]["valid"]
    wrong = keys.by_role["admin"]["wrong"]
    assert valid is not None and wrong is not None
    try:
        http_ready(url)
        with httpx.Client(base_url=url) as http:
            assert http.get(f"/v1/models?api_key={valid}").status_code == 401
            assert http.get(f"/v1/models?API%5Fkey={valid}&token={SECRET}").status_code == 401
            assert http.get(f"/v1/models?key=a&key={SECRET}").status_code == 401
            headers = {"Authorization": f"Bearer {wrong}"}
            assert http.get(f"/v1/models?password={SECRET}", headers=headers).status_code == 401
            assert http.get(f"/v1/models/{valid}/predict").status_code == 401
            admin = {"Authorization": f"Bearer {valid}"}
            assert http.get(f"/v1/models?access_token={SECRET}", headers=admin).status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    text = output.read_text()
    assert "GET /v1/models?api_key=<redacted> HTTP/1.1" in text, text[-3000:]
    assert "refused" in text  # modelcycle's own warnings are in the same output
    for secret in (SECRET, valid, valid[8:], wrong, wrong[8:]):
        assert secret not in text, text[-3000:]

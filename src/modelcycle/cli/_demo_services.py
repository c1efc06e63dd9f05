"""The demo's moving parts: a real server and a real worker as child processes, and a client.

The demo drives ``modelcycle serve`` and ``modelcycle worker`` exactly as a user
would start them, over HTTP on 127.0.0.1 with its own API keys; their output goes
to log files beside the reports so a failed step can be read afterwards.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import orjson

from modelcycle.core import ModelcycleError


class DemoFailed(ModelcycleError):
    """A step of the demo did not do what it should (the message says which and why)."""

    exit_code = 1
    code = "demo_failed"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ChildProcess:
    """A ``modelcycle`` command run as a child process, its output written to ``log``."""

    def __init__(self, name: str, args: Sequence[str], log: Path) -> None:
        self.name = name
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] = log.open("wb")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "modelcycle", *args],
            stdout=self._file,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def running(self) -> bool:
        """Whether the process is still alive."""
        return self.process.poll() is None

    def tail(self, lines: int = 15) -> str:
        """The last lines of its output (for error messages)."""
        self._file.flush()
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self, timeout_s: float = 30.0) -> int:
        """Ask it to stop (SIGTERM), wait, and return its exit code (killed if it hangs)."""
        if self.running():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._file.close()
        return int(self.process.returncode)

    def __enter__(self) -> ChildProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@dataclass
class Response:
    """One HTTP answer: status code and decoded JSON body."""

    status: int
    body: Any


class Client:
    """A keep-alive JSON client for one server, sending one API key."""

    def __init__(self, port: int, key: str, *, timeout_s: float = 60.0) -> None:
        self.port = port
        self.key = key
        self.timeout_s = timeout_s
        self._connection: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: Any = None) -> Response:
        """Send one request; reconnect once if the kept-alive connection was closed."""
        payload = orjson.dumps(body) if body is not None else None
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        for attempt in (1, 2):
            connection = self._connect()
            try:
                connection.request(method, path, body=payload, headers=headers)
                answer = connection.getresponse()
                data = answer.read()
            except (ConnectionError, http.client.HTTPException):
                self.close()
                if attempt == 2:
                    raise
                continue
            return Response(answer.status, orjson.loads(data) if data else None)
        raise AssertionError("unreachable")

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            self._connection = http.client.HTTPConnection(
                "127.0.0.1", self.port, timeout=self.timeout_s
            )
        return self._connection

    def close(self) -> None:
        """Close the kept-alive connection."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def wait_until(
    what: str,
    check: Callable[[], Any],
    *,
    timeout_s: float,
    interval_s: float = 0.25,
    alive: Sequence[ChildProcess] = (),
) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` on timeout.

    A child process in ``alive`` that exits meanwhile fails the wait at once, with
    the end of its output.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        for child in alive:
            if not child.running():
                raise DemoFailed(
                    f"{child.name} exited (code {child.process.returncode}) while waiting "
                    f"for {what}; its last output ({child.log}):\n{child.tail()}"
                )
        with contextlib.suppress(ConnectionError, OSError):
            result = check()
            if result:
                return result
        if time.monotonic() > deadline:
            raise DemoFailed(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(interval_s)


@contextlib.contextmanager
def serving(
    workspace_args: Sequence[str], ref: str, log: Path, *, key: str
) -> Iterator[tuple[ChildProcess, Client]]:
    """Run ``modelcycle serve ref`` on a free loopback port until the block ends."""
    port = free_port()
    args = [*workspace_args, "serve", ref, "--port", str(port), "--poll-interval", "0.5"]
    with ChildProcess("the server", args, log) as server:
        client = Client(port, key)

        def ready() -> bool:
            return client.request("GET", "/health/ready").status == 200

        try:
            wait_until("the server to load and warm the model", ready, timeout_s=90, alive=[server])
            yield server, client
        finally:
            client.close()


class SteadyTraffic:
    """Single-row requests in a background thread, counting answers per version and failures.

    Runs while the worker retrains and promotes, so the demo can show that the server
    swapped versions without a failed request.
    """

    def __init__(self, port: int, key: str, path: str, rows: Sequence[dict[str, Any]]) -> None:
        self._client = Client(port, key)
        self._path = path
        self._rows = list(rows)
        self._stop = threading.Event()
        self.versions: dict[int, int] = {}
        self.failures: list[str] = []
        self._thread = threading.Thread(target=self._run, name="demo-traffic", daemon=True)

    @property
    def answered(self) -> int:
        """Requests answered with 200 so far."""
        return sum(self.versions.values())

    def __enter__(self) -> SteadyTraffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._client.close()

    def _run(self) -> None:
        index = 0
        while not self._stop.is_set():
            row = self._rows[index % len(self._rows)]
            index += 1
            try:
                answer = self._client.request("POST", self._path, {"rows": [row]})
            except (ConnectionError, OSError, http.client.HTTPException) as exc:
                self.failures.append(f"{type(exc).__name__}: {exc}")
                continue
            if answer.status == 200:
                version = int(answer.body["version"])
                self.versions[version] = self.versions.get(version, 0) + 1
            else:
                self.failures.append(f"HTTP {answer.status}: {answer.body}")
            self._stop.wait(0.02)

"""Every Python and shell example in README.md and docs/*.md runs, as a newcomer would run it.

The ``python``, ``bash``, ``shell`` and ``console`` blocks of one file run in order in a fresh
folder (the current directory; no ``MODELCYCLE_*`` variable set, so the workspace is
``./.modelcycle``): Python blocks share one namespace, as in one notebook, and shell blocks
run under ``bash -eo pipefail`` with this interpreter's ``modelcycle`` first on ``PATH``.
A file's inputs (for the README: ``data.csv``, a churn table with the columns its examples
name, and ``churn-policy.toml``) are written into the folder first, as a user's own files
would be there. A shell
block may start a server in the background (``&``); it runs on a free port (the harness
replaces the examples' port 8000) and is stopped when the block ends.

A block that cannot run here is marked right before it with
``<!-- example: skip (the reason) -->``; a skip without a reason, or any other
``<!-- example: ... -->`` comment, fails the test.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).parent.parent
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LANGUAGES = {"python": "python", "bash": "shell", "shell": "shell", "console": "console"}
SHELL_TIMEOUT_S = 300

_FENCE = re.compile(r"^```(\w*)\s*$")
_MARK = re.compile(r"^<!--\s*example:(.*?)-->\s*$")
_SKIP = re.compile(r"^\s*skip\s*(?:\((.*)\))?\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced example: where it starts, its language, its code, and why it is skipped."""

    path: Path
    line: int
    language: str
    code: str
    skip: str | None = None

    @property
    def where(self) -> str:
        return _where(self.path, self.line)


def _where(path: Path, line: int) -> str:
    return f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{line}"


def blocks_of(path: Path) -> list[Block]:
    """The runnable-language blocks of ``path`` in order, with their skip marks checked."""
    lines = path.read_text().splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
        language = LANGUAGES.get(fence.group(1))
        if language is not None:
            code = "\n".join(lines[index + 1 : end]) + "\n"
            found.append(Block(path, index + 1, language, code, _skip_reason(path, lines, index)))
        index = end + 1
    return found


def _skip_reason(path: Path, lines: list[str], fence: int) -> str | None:
    """The reason of the ``<!-- example: skip (...) -->`` mark right before line ``fence``."""
    before = next((lines[i] for i in range(fence - 1, -1, -1) if lines[i].strip()), "")
    mark = _MARK.match(before.strip())
    if mark is None:
        return None
    skip = _SKIP.match(mark.group(1))
    where = _where(path, fence + 1)
    if skip is None:
        pytest.fail(f"{where}: unknown mark {before.strip()!r}; only 'skip (reason)' exists")
    if not (skip.group(1) or "").strip():
        pytest.fail(f"{where}: a skipped example needs its reason: <!-- example: skip (why) -->")
    return skip.group(1).strip()


def churn_table(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Customers who churn more when young, on the basic plan, paying more (learnable)."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, n)
    plan = rng.choice(["basic", "plus", "premium"], n)
    monthly = rng.normal(40, 12, n).round(2)
    logit = (45 - age) / 6 + np.where(plan == "basic", 0.8, -0.4) + (monthly - 40) / 15
    churned = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return pd.DataFrame({"age": age, "plan": plan, "monthly": monthly, "churned": churned})


# A policy as a user would keep it beside the data (docs/lifecycle.md describes the format).
POLICY = """model = "churn"

[monitoring]
every = "5m"

[[monitoring.alerts]]
rule = "psi > 0.2 top 10"

[retraining]
on_alerts = ["psi > 0.2 top 10"]
source = "data.csv"
budget = 5
mode = "propose"
"""


def readme_inputs(folder: Path) -> None:
    """The user's files the README names: data.csv and churn-policy.toml."""
    churn_table().to_csv(folder / "data.csv", index=False)
    (folder / "churn-policy.toml").write_text(POLICY)


def an_audited_workspace(folder: Path) -> None:
    """A workspace with one audit event, as any workspace in use has."""
    command = [str(Path(sys.executable).parent / "modelcycle"), "users", "create", "alice"]
    subprocess.run(command, cwd=folder, env=_environment(), check=True, capture_output=True)


INPUTS: dict[str, Callable[[Path], None]] = {
    "README.md": readme_inputs,
    "security.md": an_audited_workspace,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_shell(block: Block, folder: Path, port: int) -> None:
    """Run ``block`` in ``folder`` under bash; stop whatever it left in the background."""
    code = _commands(block).replace(":8000", f":{port}").replace("--port 8000", f"--port {port}")
    env = _environment()
    log = folder / f".example-{block.line}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            ["bash", "-eo", "pipefail", "-c", code],
            cwd=folder,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its background jobs are in its process group
        )
        try:
            status = process.wait(timeout=SHELL_TIMEOUT_S)
        finally:
            _stop_group(process.pid)
    if status != 0:
        pytest.fail(f"{block.where} exited {status}:\n{block.code}\n{log.read_text()[-4000:]}")


def _environment() -> dict[str, str]:
    """This environment without ``MODELCYCLE_*``, with this interpreter's scripts first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELCYCLE_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _commands(block: Block) -> str:
    """The shell code of ``block``: a console block's ``$ `` lines (the rest is output)."""
    if block.language != "console":
        return block.code
    return "".join(line[2:] + "\n" for line in block.code.splitlines() if line.startswith("$ "))


def _stop_group(pid: int) -> None:
    """Stop the block's process group (a server started with ``&``) and wait for it."""
    try:
        os.killpg(pid, signal.SIGINT)
    except ProcessLookupError:
        return
    for _ in range(100):
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        subprocess.run(["sleep", "0.1"], check=False)
    os.killpg(pid, signal.SIGKILL)


def run_block(block: Block, folder: Path, namespace: dict[str, object], port: int) -> None:
    """Run a Python block in ``namespace``, a shell block in ``folder`` (servers on ``port``)."""
    if block.language == "python":
        run_python(block, namespace)
    else:
        run_shell(block, folder, port)


def run_python(block: Block, namespace: dict[str, object]) -> None:
    try:
        exec(compile(block.code, block.where, "exec"), namespace)  # our own docs
    except Exception as exc:
        pytest.fail(f"{block.where} raised {type(exc).__name__}: {exc}\n{block.code}")


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in [k for k in os.environ if k.startswith("MODELCYCLE_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def runnable(path: Path) -> bool:
    """Whether ``path`` has an example that is not skipped (the others have nothing to run)."""
    try:
        return any(block.skip is None for block in blocks_of(path))
    except pytest.fail.Exception:
        return True  # a bad mark: test_every_mark_has_a_reason names it, and so does the run


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_mark_has_a_reason(path: Path) -> None:
    for block in blocks_of(path):
        assert block.skip is None or block.skip.strip(), block.where


_INSTALLS = re.compile(r"\b(?:pip3?|uv|apt-get|apt|docker|kubectl)\s+(?:install|build|run|apply)\b")


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_no_runnable_example_installs_or_deploys(path: Path) -> None:
    """A block that installs packages or starts containers would change the test machine."""
    for block in blocks_of(path):
        if block.skip is None:
            assert not _INSTALLS.search(block.code), f"{block.where}: mark it as skipped"


RUNNABLE = [path for path in FILES if runnable(path)]


@pytest.mark.timeout(900)  # the README trains three times and starts a server
@pytest.mark.parametrize("path", RUNNABLE, ids=[p.name for p in RUNNABLE])
def test_the_examples_run(path: Path, folder: Path) -> None:
    INPUTS.get(path.name, lambda _: None)(folder)
    namespace: dict[str, object] = {"__name__": "__example__"}
    port = free_port()
    try:
        for block in blocks_of(path):
            if block.skip is not None:
                continue
            run_block(block, folder, namespace, port)
    finally:
        workspace = namespace.get("ws")
        if workspace is not None:
            workspace.close()  # type: ignore[attr-defined]


def test_a_skip_needs_a_reason(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("<!-- example: skip -->\n```bash\nfalse\n```\n")
    with pytest.raises(pytest.fail.Exception, match="needs its reason"):
        blocks_of(page)


def test_an_unknown_mark_is_refused(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("<!-- example: maybe (later) -->\n```python\npass\n```\n")
    with pytest.raises(pytest.fail.Exception, match="unknown mark"):
        blocks_of(page)


@pytest.mark.parametrize(
    ("fence", "code", "expected"),
    [
        ("bash", "true\nexit 3", "exited 3"),
        ("bash", "false | true", "exited 1"),  # pipefail
        ("console", "$ false\nsome output", "exited 1"),
        ("python", "undefined_name", "NameError"),
    ],
)
def test_a_broken_example_fails(tmp_path: Path, fence: str, code: str, expected: str) -> None:
    page = tmp_path / "page.md"
    page.write_text(f"text\n\n```{fence}\n{code}\n```\n")
    (block,) = blocks_of(page)
    with pytest.raises(pytest.fail.Exception, match=expected):
        run_block(block, tmp_path, {}, free_port())

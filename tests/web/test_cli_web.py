"""``modelcycle users passwd``, ``users logout`` and ``ui`` from the command line (issue 14)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import modelcycle as mc
from tests.models import run_cli

PASSWORD = "correct horse battery staple"


def _stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


def test_passwd_reads_the_password_from_stdin_never_argv(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    home = str(tmp_path / "ws")
    assert run_cli(capsys, "-w", home, "users", "create", "alice")[0] == 0
    _stdin(monkeypatch, PASSWORD + "\n")
    code, out, err = run_cli(capsys, "-w", home, "users", "passwd", "alice")
    assert code == 0 and "set the password of alice" in out, err
    assert PASSWORD not in out + err
    with mc.Workspace(home) as ws:
        _, session = ws.security.sessions.login("alice", PASSWORD)
        assert session.user == "alice"
        assert PASSWORD not in str([e.to_dict() for e in ws.security.audit_events()])
    code, out, _ = run_cli(capsys, "-w", home, "users", "logout", "alice")
    assert code == 0 and "ended 1 open session(s)" in out
    # A password on the command line is not an option at all.
    code, _, err = run_cli(capsys, "-w", home, "users", "passwd", "alice", PASSWORD)
    assert code == 2


def test_passwd_refuses_a_short_password_and_an_unknown_user(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    home = str(tmp_path / "ws")
    run_cli(capsys, "-w", home, "users", "create", "bob")
    _stdin(monkeypatch, "short\n")
    code, _, err = run_cli(capsys, "-w", home, "users", "passwd", "bob")
    assert code == 2 and "12 to 1024 characters" in err
    _stdin(monkeypatch, PASSWORD + "\n")
    code, _, err = run_cli(capsys, "-w", home, "users", "passwd", "nobody")
    assert code != 0 and "does not exist" in err


def test_ui_refuses_a_remote_address_without_allow_remote(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run_cli(capsys, "-w", str(tmp_path / "ws"), "ui", "--host", "0.0.0.0")
    assert code == 5 and "--allow-remote" in err

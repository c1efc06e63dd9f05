"""``modelcycle users disable`` / ``enable``: audited, and refused for unknown users."""

from __future__ import annotations

from pathlib import Path

import pytest

import modelcycle as mc
from modelcycle.security import list_events
from tests.models import run_cli


def test_disable_and_enable_a_user(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = str(tmp_path / "ws")
    with mc.Workspace(home) as ws:
        ws.security.create_user("bob", actor="test")
        ws.security.grant("bob", "predictor", actor="test")
        key, _ = ws.security.create_key("bob", "predictor")
    code, out, _ = run_cli(capsys, "-w", home, "users", "disable", "bob")
    assert code == 0 and "disabled user bob" in out and "--auth-cache-ttl" in " ".join(out.split())
    code, out, _ = run_cli(capsys, "-w", home, "users", "list", "--json")
    assert '"disabled": true' in out
    with mc.Workspace(home) as ws:
        with pytest.raises(mc.core.PermissionDenied) as refused:
            ws.security.authenticate(key)
        assert refused.value.details["reason"] == "disabled"
    code, out, _ = run_cli(capsys, "-w", home, "users", "enable", "bob")
    assert code == 0 and "enabled user bob" in out
    with mc.Workspace(home) as ws:
        assert ws.security.authenticate(key).user == "bob"
        events = list_events(ws.db, target="user:bob")
        assert [e.action for e in events][-2:] == ["user.disable", "user.enable"]
        assert events[-2].before == {"disabled": False} and events[-2].after == {"disabled": True}


def test_disabling_an_unknown_user_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mc.Workspace(tmp_path / "ws").close()
    code, _, err = run_cli(capsys, "-w", str(tmp_path / "ws"), "users", "disable", "ghost")
    assert code == 3 and "ghost" in err

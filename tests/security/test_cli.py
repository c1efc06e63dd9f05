"""``modelcycle users``, ``keys`` and ``audit`` from the command line."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

import modelcycle as mc
from modelcycle.security._roles import default_actor
from tests.models import run_cli


def test_users_keys_and_audit_from_the_command_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    home = str(tmp_path / "ws")
    assert run_cli(capsys, "-w", home, "users", "create", "alice")[0] == 0
    code, out, _ = run_cli(
        capsys, "-w", home, "users", "grant", "alice", "predictor", "--model", "churn"
    )
    assert code == 0 and "predictor for model 'churn'" in out
    code, _, err = run_cli(
        capsys, "-w", home, "keys", "create", "--user", "alice", "--role", "viewer"
    )
    assert code == 5 and "grant it first with 'modelcycle users grant alice viewer'" in err
    code, out, err = run_cli(
        capsys, "-w", home, "keys", "create", "--user", "alice", "--role", "predictor",
        "--model", "churn", "--expires", "90d",
    )  # fmt: skip
    key = out.strip()
    assert code == 0 and key.startswith("mc_") and "shown only now" in err
    code, out, _ = run_cli(capsys, "-w", home, "keys", "list", "--json")
    [listed] = json.loads(out)
    assert listed["prefix"] == key[:8] and listed["expires_at"] and key[8:] not in out
    code, out, _ = run_cli(capsys, "-w", home, "keys", "list")
    assert code == 0 and key[:8] in out and key[8:] not in out
    with mc.Workspace(home) as ws:
        assert ws.security.authenticate(key).user == "alice"
    assert run_cli(capsys, "-w", home, "keys", "revoke", key[:8])[0] == 0
    code, out, _ = run_cli(capsys, "-w", home, "users", "list", "--json")
    assert json.loads(out)[0]["grants"] == [{"role": "predictor", "model": "churn"}]
    code, out, _ = run_cli(
        capsys, "-w", home, "audit", "list", "--json", "--actor", default_actor()
    )
    actions = [e["action"] for e in json.loads(out)]
    assert actions == ["user.create", "user.grant", "key.create", "key.revoke"]
    assert key[8:] not in out
    code, out, _ = run_cli(
        capsys, "-w", home, "audit", "list", "--target", "user:alice", "--since", "1d"
    )
    assert code == 0 and "user.grant" in out and "key.create" not in out
    code, out, _ = run_cli(capsys, "-w", home, "audit", "verify")
    assert code == 0 and "4 event(s)" in out
    with sqlite3.connect(tmp_path / "ws" / "modelcycle.db") as connection:
        connection.execute("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2")
    code, _, err = run_cli(capsys, "-w", home, "audit", "verify")
    assert code == 6 and "audit log is broken at event 2" in err and "Traceback" not in err


def test_bad_options_are_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    home = str(tmp_path / "ws")
    mc.Workspace(home).close()
    code, _, err = run_cli(capsys, "-w", home, "audit", "list", "--since", "yesterday")
    assert code == 2 and "--since 'yesterday' is not valid" in err
    code, _, err = run_cli(capsys, "-w", home, "keys", "revoke", "mc_nope1")
    assert code == 3 and "no API key has prefix 'mc_nope1'" in err

"""API keys on every backend: lifecycle, refusals, and keys never stored or shown in clear."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

import modelcycle as mc
from modelcycle.core import Conflict, NotFound, PermissionDenied, ValidationError, now_ms
from modelcycle.security import Grant, Security, list_events, parse_duration


@pytest.fixture
def security(workspace: mc.Workspace) -> Security:
    security = workspace.security
    security.create_user("alice", actor="root")
    security.grant("alice", "predictor", model="churn", actor="root")
    return security


def test_key_round_trip(security: Security) -> None:
    key, info = security.create_key("alice", "predictor", "churn", expires=timedelta(days=90))
    assert key.startswith("mc_") and len(key) == 46 and info.prefix == key[:8]
    assert (info.user, info.role, info.model) == ("alice", "predictor", "churn")
    assert info.expires_at is not None and info.expires_at > info.created_at
    principal = security.authenticate(key)
    assert principal.user == "alice" and principal.key_prefix == info.prefix
    assert principal.grants == (Grant("predictor", "churn"),)
    security.authorize(principal, "predict", "churn")
    security.authorize(principal, "feedback", "churn")
    with pytest.raises(PermissionDenied, match="may not predict model 'fraud'"):
        security.authorize(principal, "predict", "fraud")
    with pytest.raises(PermissionDenied, match="may not read model 'churn'"):
        security.authorize(principal, "read", "churn")
    [listed] = security.list_keys()
    assert listed.prefix == info.prefix and listed.last_used_at is not None


def test_wrong_malformed_and_unknown_keys_are_refused(security: Security) -> None:
    key, _ = security.create_key("alice", "predictor", "churn")
    wrong = key[:8] + ("A" if key[8] != "A" else "B") + key[9:]
    unknown = "mc_" + "x" * 43
    for bad in (wrong, unknown, "", "Bearer " + key, key + "x", key[:-1]):
        with pytest.raises(PermissionDenied, match="API key is not valid") as caught:
            security.authenticate(bad)
        assert key not in str(caught.value) and (not bad or bad not in str(caught.value))


def test_revoked_key_is_refused(security: Security) -> None:
    key, info = security.create_key("alice", "predictor", "churn")
    revoked = security.revoke_key(info.prefix, actor="root")
    assert revoked.revoked_at is not None
    assert security.revoke_key(info.prefix).revoked_at == revoked.revoked_at  # idempotent
    with pytest.raises(
        PermissionDenied, match=rf"API key {info.prefix} of user 'alice' was revoked"
    ):
        security.authenticate(key)
    with pytest.raises(NotFound, match="no API key has prefix 'mc_zzzzz'"):
        security.revoke_key("mc_zzzzz")


def test_revoke_by_pasted_key_names_only_the_prefix(security: Security) -> None:
    key, _ = security.create_key("alice", "predictor", "churn")
    security.revoke_key(key)
    assert security.list_keys()[0].revoked_at is not None
    with pytest.raises(NotFound) as caught:
        security.revoke_key("mc_" + "q" * 43)
    assert "q" * 10 not in str(caught.value)


def test_expired_key_is_refused(security: Security, monkeypatch: pytest.MonkeyPatch) -> None:
    key, info = security.create_key("alice", "predictor", "churn", expires=timedelta(hours=1))
    security.authenticate(key)
    later = now_ms() + 2 * 3600 * 1000
    monkeypatch.setattr("modelcycle.security._security.now_ms", lambda: later)
    with pytest.raises(PermissionDenied, match=rf"API key {info.prefix} of user 'alice' expired"):
        security.authenticate(key)
    assert security.list_keys()[0].state(info.created_at + timedelta(hours=2)) == "expired"


def test_keys_follow_their_users_grants(security: Security) -> None:
    with pytest.raises(PermissionDenied, match="does not hold role 'predictor' workspace-wide"):
        security.create_key("alice", "predictor")
    with pytest.raises(PermissionDenied, match="'modelcycle users grant alice viewer --model x'"):
        security.create_key("alice", "viewer", "x")
    key, _ = security.create_key("alice", "predictor", "churn")
    security.revoke_grant("alice", "predictor", model="churn")
    with pytest.raises(PermissionDenied, match="which the user no longer holds"):
        security.authenticate(key)
    security.grant("alice", "admin")
    security.authenticate(key)  # an admin may hold any role
    security.set_disabled("alice")
    with pytest.raises(PermissionDenied, match="the user is disabled"):
        security.authenticate(key)
    with pytest.raises(PermissionDenied, match="is disabled"):
        security.create_key("alice", "viewer")


def test_users_and_grants(security: Security) -> None:
    with pytest.raises(Conflict, match="user 'alice' already exists"):
        security.create_user("alice")
    with pytest.raises(ValidationError, match="user name ' bad' is not valid"):
        security.create_user(" bad")
    with pytest.raises(ValidationError, match="role 'owner' is not known"):
        security.grant("alice", "owner")
    with pytest.raises(NotFound, match="modelcycle users create bob"):
        security.grant("bob", "viewer")
    with pytest.raises(NotFound, match="does not hold viewer; they hold: predictor for model"):
        security.revoke_grant("alice", "viewer")
    security.grant("alice", "viewer")
    security.grant("alice", "viewer")  # idempotent: one grant, one event
    assert security.user("alice").grants == (Grant("viewer"), Grant("predictor", "churn"))
    assert security.principal("alice").grants == security.user("alice").grants
    assert [u.name for u in security.users()] == ["alice"]
    grants = list_events(security.db, action="user.grant")
    assert len(grants) == 2


def test_durations() -> None:
    assert parse_duration("90d") == timedelta(days=90)
    assert parse_duration("12h") == timedelta(hours=12)
    for bad in ("0d", "90", "d", "-1d", "1y"):
        with pytest.raises(ValidationError, match="expected a positive number and a unit"):
            parse_duration(bad)


def test_key_is_never_stored_logged_or_audited(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    home = tmp_path / "clear"
    with mc.Workspace(home) as ws:
        ws.security.create_user("alice")
        ws.security.grant("alice", "viewer")
        key, info = ws.security.create_key("alice", "viewer")
        ws.security.authenticate(key)
        ws.security.revoke_key(info.prefix)
        with pytest.raises(PermissionDenied) as caught:
            ws.security.authenticate(key)
        events = list_events(ws.db)
        with ws.db.read() as connection:
            dumped = [tuple(r) for r in connection.execute(sa.text("SELECT * FROM api_keys"))]
    secret = key[8:]
    assert (
        secret not in str(caught.value) and secret not in repr(events) and secret not in str(dumped)
    )
    files = list(home.rglob("*"))
    assert any(f.name == "modelcycle.db" for f in files)
    for file in files:
        if file.is_file():
            assert secret.encode() not in file.read_bytes(), file
    captured = capsys.readouterr()
    assert secret not in caplog.text + captured.out + captured.err

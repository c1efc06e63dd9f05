"""``modelcycle serve`` is secure by default: the first admin key, --no-auth only on loopback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import modelcycle as mc
from modelcycle.cli._serve import check_host, ensure_admin_key, serve
from modelcycle.cli._settings_options import resolve_setting_options
from modelcycle.core import Conflict, PermissionDenied


def test_first_start_creates_an_admin_key_once(tmp_path: Path) -> None:
    with mc.Workspace(tmp_path / "ws") as ws:
        path = ensure_admin_key(ws.security, ws.settings.home)
        assert path == ws.settings.home / "admin.key"
        assert os.stat(path).st_mode & 0o777 == 0o600
        key = path.read_text().strip()
        principal = ws.security.authenticate(key)
        assert principal.user == "admin"
        ws.security.authorize(principal, "manage")
        assert ensure_admin_key(ws.security, ws.settings.home) is None  # users exist now
        assert path.read_text().strip() == key


def test_an_existing_key_file_is_never_overwritten(tmp_path: Path) -> None:
    with mc.Workspace(tmp_path / "ws") as ws:
        ws.settings.home.mkdir(parents=True, exist_ok=True)
        (ws.settings.home / "admin.key").write_text("kept")
        with pytest.raises(Conflict, match=r"admin\.key exists"):
            ensure_admin_key(ws.security, ws.settings.home)
        assert (ws.settings.home / "admin.key").read_text() == "kept"
        assert ws.security.users() == []


def test_no_auth_is_refused_off_loopback() -> None:
    with pytest.raises(PermissionDenied, match="--no-auth"):
        check_host("0.0.0.0", allow_remote=True, no_auth=True)
    check_host("127.0.0.1", allow_remote=False, no_auth=True)
    app = typer.Typer()
    app.command()(resolve_setting_options(serve))  # its options, as the CLI builds it
    app.command("other")(lambda: None)
    result = CliRunner().invoke(
        app, ["serve", "churn", "--host", "10.1.2.3", "--allow-remote", "--no-auth"]
    )
    assert isinstance(result.exception, PermissionDenied)
    assert "--no-auth" in str(result.exception)


def test_the_start_up_pauses_the_collector_and_freezes_what_it_made() -> None:
    """Issue 12: ``serve`` imports and builds its app with the cyclic collector paused, then
    freezes those objects and resumes it, also when the start fails."""
    import gc

    from modelcycle.cli._serve import collections_paused

    assert gc.isenabled()
    try:
        with collections_paused():
            assert not gc.isenabled()
            made = [[] for _ in range(1000)]
        assert gc.isenabled() and gc.get_freeze_count() >= len(made)
        with pytest.raises(RuntimeError), collections_paused():
            raise RuntimeError("the start failed")
        assert gc.isenabled()
    finally:
        gc.unfreeze()

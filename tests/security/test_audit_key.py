"""The audit chain's key and seal (issue 11): key file, environment variable, re-seal of
an unkeyed chain, downgrades, missing and wrong keys, and heads kept elsewhere."""

from __future__ import annotations

import os
import shutil
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

import modelcycle as mc
from modelcycle.core import Conflict, IntegrityError, Settings, ValidationError, WorkspaceError
from modelcycle.security import ChainHead, audit_head, list_events, verify_audit
from modelcycle.security._audit import GENESIS, append, unkeyed_hash
from modelcycle.security._audit_key import AuditKey, create_key_file
from modelcycle.security._reseal import open_audit_chain
from modelcycle.serving import ServeSettings
from modelcycle.serving._workers import WorkerConfig
from modelcycle.store import Database, head_revision, tables, upgrade
from tests.models import run_cli

MIGRATIONS = Path(tables.__file__).with_name("migrations")
ASSETS = Path(__file__).parent.parent / "assets"
KEY_B = "b" * 64


def _append(db: Database, n: int) -> None:
    for index in range(n):
        db.transaction(
            lambda c, i=index: append(c, actor="alice", action="test.event", target=f"t/{i}")  # type: ignore[misc]
        )


def _rows(db: Database) -> list[dict[str, Any]]:
    events = tables.audit_events
    with db.engine.connect() as connection:
        query = sa.select(events).order_by(events.c.seq)
        return [dict(r) for r in connection.execute(query).mappings()]


def _seal_rows(db: Database) -> list[dict[str, Any]]:
    with db.engine.connect() as connection:
        return [dict(r) for r in connection.execute(sa.select(tables.audit_seal)).mappings()]


def _sql(db: Database, *statements: str) -> None:
    with db.engine.begin() as connection:
        for statement in statements:
            connection.execute(sa.text(statement))


def _unkeyed_rewrite(db: Database) -> None:
    """The downgrade: recompute the whole chain as plain SHA-256, as before migration 0006."""
    rows, prev = _rows(db), GENESIS
    for row in rows:
        row["actor"] = "mallory" if row["seq"] == 2 else row["actor"]
        row["prev_hash"] = prev
        row["hash"] = prev = unkeyed_hash(row)
    with db.engine.begin() as connection:
        connection.execute(sa.delete(tables.audit_events))
        connection.execute(sa.insert(tables.audit_events), rows)


def _legacy_database(url: str, events: int) -> list[dict[str, Any]]:
    """A database as modelcycle left it before migration 0006: schema 0005, unkeyed chain."""
    db = Database(url)
    try:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with db.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0005")
        prev, rows = GENESIS, []
        for seq in range(1, events + 1):
            row = {
                "seq": seq,
                "created_at": 1_764_849_600_000 + seq,
                "actor": "alice",
                "action": "user.create",
                "target": f"user:u{seq}",
                "before": None,
                "after": f'{{"name":"u{seq}"}}',
                "request_id": None,
                "prev_hash": prev,
            }
            row["hash"] = prev = unkeyed_hash(row)
            rows.append(row)
        with db.engine.begin() as connection:
            connection.execute(sa.insert(tables.audit_events), rows)
        return rows
    finally:
        db.dispose()


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    """The key file of the ``workspace`` fixture (home is ./.modelcycle in tmp_path)."""
    return tmp_path / ".modelcycle" / "audit.key"


@pytest.fixture
def reopen(backend_url: str, tmp_path: Path) -> Iterator[Any]:
    opened: list[mc.Workspace] = []

    def open_again() -> mc.Workspace:
        ws = mc.Workspace(db_url=backend_url, artifact_root=str(tmp_path / "artifacts"))
        opened.append(ws)
        return ws

    yield open_again
    for ws in opened:
        ws.close()


# -- the unkeyed chain before migration 0006, and its re-seal --------------------------


def test_unkeyed_hash_is_the_algorithm_modelcycle_used_before_0006() -> None:
    row = {
        "seq": 1,
        "created_at": 1764849600000,
        "actor": "alice",
        "action": "user.create",
        "target": "user:alice",
        "before": None,
        "after": '{"name":"alice"}',
        "request_id": None,
        "prev_hash": GENESIS,
    }
    # Computed by modelcycle's audit.event_hash before migration 0006 (commit 15bd08e).
    assert unkeyed_hash(row) == "d5c2b2e2ee7c1fe23a20ccef6b06672888e43693edbfd2040340552c7b60b891"


def test_an_unkeyed_chain_is_resealed_on_open_keeping_every_event(
    backend_url: str, key_file: Path, reopen: Any
) -> None:
    legacy = _legacy_database(backend_url, 5)
    ws = reopen()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    rows = _rows(ws.db)
    fields = ("seq", "created_at", "actor", "action", "target", "before", "after", "request_id")
    assert [{k: r[k] for k in fields} for r in rows[:5]] == [
        {k: r[k] for k in fields} for r in legacy
    ]
    assert not {r["hash"] for r in rows} & {r["hash"] for r in legacy}
    seal_event = list_events(ws.db)[-1]
    assert (seal_event.seq, seal_event.action, seal_event.target) == (6, "audit.seal", "audit")
    assert seal_event.after["resealed_events"] == 5
    assert seal_event.after["unkeyed_head"] == legacy[-1]["hash"]
    assert verify_audit(ws.db).ok and verify_audit(ws.db).events == 6
    ws.security.create_user("bob")
    assert reopen().db and verify_audit(ws.db).events == 7  # opening again changes nothing
    assert [r["hash"] for r in _rows(ws.db)[:6]] == [r["hash"] for r in rows]


def test_workspace_0_1_0_asset_is_sealed_on_upgrade(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The 0.1.0 asset predates the audit table: its chain is empty, so sealing is all.
    home = tmp_path / "old"
    shutil.copytree(ASSETS / "workspace-0.1.0", home)
    code, out, err = run_cli(capsys, "-w", str(home), "db", "upgrade")
    assert code == 0 and f"to {head_revision()}" in out, err
    assert stat.S_IMODE((home / "audit.key").stat().st_mode) == 0o600
    with mc.Workspace(home) as ws:
        assert [r.name for r in ws.runs("asset", order_by="name")] == ["run-a", "run-b"]
        assert [row["algorithm"] for row in _seal_rows(ws.db)] == ["hmac-sha256"]
        ws.security.create_user("alice")
        assert verify_audit(ws.db).ok and verify_audit(ws.db).events == 1


def test_a_tampered_unkeyed_chain_is_refused_and_nothing_changes(
    backend_url: str, key_file: Path, reopen: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _legacy_database(backend_url, 5)
    db = Database(backend_url)
    _sql(db, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 3")
    before = _rows(db)
    db.dispose()
    ws = reopen()  # reads still work: the workspace opens
    assert not key_file.exists() and _rows(ws.db) == before and _seal_rows(ws.db) == []
    with pytest.raises(IntegrityError, match=r"unkeyed audit chain .* is broken at event 3"):
        ws.security.create_user("bob")
    assert ws.security.users() == []  # the change rolled back with its refused event
    result = verify_audit(ws.db)
    assert not result.ok and result.broken_seq == 1 and "not sealed" in (result.reason or "")
    for command_line in (("db", "upgrade"), ("audit", "seal")):
        code, _, err = run_cli(capsys, "-w", backend_url, *command_line)
        assert code == 6 and "broken at event 3" in err and "Traceback" not in err
    assert not key_file.exists() and _rows(ws.db) == before and _seal_rows(ws.db) == []


def test_an_unkeyed_chain_with_a_key_already_set_is_sealed_only_on_request(
    backend_url: str,
    key_file: Path,
    reopen: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MODELCYCLE_AUDIT_KEY", KEY_B)
    _legacy_database(backend_url, 4)
    ws = reopen()
    with pytest.raises(IntegrityError, match=r"a key already exists .* 'modelcycle audit seal'"):
        ws.security.create_user("bob")
    assert not verify_audit(ws.db).ok
    code, out, err = run_cli(capsys, "-w", backend_url, "audit", "seal")
    key_id = AuditKey(bytes.fromhex(KEY_B), "test").key_id
    assert code == 0 and f"sealed with key {key_id}: 4 event(s) re-sealed" in out, err
    assert not key_file.exists()  # the environment's key, no file
    ws = reopen()
    ws.security.create_user("bob")
    assert verify_audit(ws.db).ok and verify_audit(ws.db).events == 6
    code, _, err = run_cli(capsys, "-w", backend_url, "audit", "seal")
    assert code == Conflict.exit_code and "sealed already" in err


# -- attackers with write access to the database ----------------------------------------


def test_a_chain_rewritten_as_unkeyed_is_caught(workspace: mc.Workspace, reopen: Any) -> None:
    _append(workspace.db, 5)
    _unkeyed_rewrite(workspace.db)
    result = verify_audit(workspace.db)  # the seal row still says keyed
    assert (result.ok, result.broken_seq) == (False, 1)
    assert "event 1 does not match its MAC" in (result.reason or "")
    _sql(workspace.db, "DELETE FROM audit_seal")  # and now the seal too: a full downgrade
    result = verify_audit(workspace.db)
    assert (result.ok, result.broken_seq) == (False, 1)
    assert "not sealed with a key" in (result.reason or "")
    with pytest.raises(IntegrityError, match="not sealed with a key"):
        workspace.security.create_user("bob")
    ws = reopen()  # the key exists, so opening again does not re-seal the forgery
    assert _seal_rows(ws.db) == [] and not verify_audit(ws.db).ok


@pytest.mark.parametrize(
    ("seal_edit", "error", "message"),
    [
        ("UPDATE audit_seal SET algorithm = 'sha256'", IntegrityError, "names algorithm 'sha256'"),
        ("UPDATE audit_seal SET algorithm = ''", IntegrityError, "names algorithm ''"),
        ("UPDATE audit_seal SET key_id = '0000000000000000'", WorkspaceError, "not the key"),
    ],
)
def test_an_edited_seal_is_refused(
    workspace: mc.Workspace, seal_edit: str, error: type[Exception], message: str
) -> None:
    _append(workspace.db, 3)
    _sql(workspace.db, seal_edit)
    with pytest.raises(error, match=message):
        workspace.security.create_user("bob")
    if error is WorkspaceError:
        with pytest.raises(error, match=message):
            verify_audit(workspace.db)
    else:
        assert not verify_audit(workspace.db).ok


# -- heads kept elsewhere ------------------------------------------------------------------


def test_expected_head_catches_removal_of_the_newest_events(workspace: mc.Workspace) -> None:
    db = workspace.db
    assert str(audit_head(db)) == f"0:{GENESIS}" and verify_audit(db, expect_head=f"0:{GENESIS}").ok
    _append(db, 6)
    kept, older = audit_head(db), ChainHead(3, _rows(db)[2]["hash"])
    assert kept.seq == 6 and verify_audit(db).chain_head == kept
    for form in (kept, str(kept), kept.mac, f" {kept}\n", str(kept).upper()):
        assert verify_audit(db, expect_head=form).ok, form
    _sql(db, "DELETE FROM audit_events WHERE seq >= 5")
    assert verify_audit(db).ok  # the limit: a shorter chain verifies on its own
    cut = verify_audit(db, expect_head=kept)
    assert (cut.ok, cut.broken_seq) == (False, 6)
    assert "ends at event 4 but the expected head is event 6" in (cut.reason or "")
    assert "no event has" in (verify_audit(db, expect_head=kept.mac).reason or "")
    _append(db, 2)  # the workspace goes on: new events 5 and 6 replace the removed ones
    replaced = verify_audit(db, expect_head=kept)
    assert (replaced.ok, replaced.broken_seq) == (False, 6)
    assert "event 6 does not have the expected head's MAC" in (replaced.reason or "")
    assert verify_audit(db, expect_head=older).ok  # a head from before the cut still holds


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "6:",
        ":" + "a" * 64,
        "-1:" + "a" * 64,
        "6:" + "a" * 63,
        "6:" + "a" * 65,
        "6:" + "g" * 64,
        "٦:" + "a" * 64,  # an Arabic-Indic digit six
        "6:" + "ａ" * 64,  # fullwidth letters
        "9" * 30 + ":" + "a" * 64,
        "6 : " + "a" * 64,
        "6:" + "a" * 64 + "\x00",
        "6:" + "a" * 10_000,
    ],
)
def test_a_malformed_head_is_refused(text: str) -> None:
    with pytest.raises(ValidationError, match="is not valid; expected 'SEQ:MAC'") as caught:
        ChainHead.parse(text)
    assert len(str(caught.value)) < 400


def test_audit_head_and_verify_expect_head_from_the_command_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    home = str(tmp_path / "ws")
    for name in ("alice", "bob", "carol"):
        assert run_cli(capsys, "-w", home, "users", "create", name)[0] == 0
    code, out, _ = run_cli(capsys, "-w", home, "audit", "head")
    kept = out.strip()
    assert code == 0 and ChainHead.parse(kept).seq == 3 and kept.count("\n") == 0
    code, out, _ = run_cli(capsys, "-w", home, "audit", "verify", "--expect-head", kept)
    assert code == 0 and f"3 event(s), head {kept}" in out
    with mc.Workspace(home) as ws:
        _sql(ws.db, "DELETE FROM audit_events WHERE seq = 3")
    code, out, _ = run_cli(capsys, "-w", home, "audit", "verify")
    assert code == 0 and "2 event(s)" in out
    code, _, err = run_cli(capsys, "-w", home, "audit", "verify", "--expect-head", kept)
    assert code == 6 and "the newest 1 event(s) were removed" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "-w", home, "audit", "verify", "--expect-head", "3:xyz")
    assert code == 2 and "is not valid; expected 'SEQ:MAC'" in err
    (tmp_path / "ws" / "audit.key").unlink()
    code, _, err = run_cli(capsys, "-w", home, "audit", "verify")
    assert code == 7 and "no key was found" in err and "audit.key" in err


# -- the key: missing, wrong, malformed, where it comes from ----------------------------


def test_a_missing_key_is_refused_and_never_replaced(
    workspace: mc.Workspace, key_file: Path, reopen: Any
) -> None:
    _append(workspace.db, 3)
    saved = key_file.read_bytes()
    key_file.unlink()
    ws = reopen()
    assert len(list_events(ws.db)) == 3  # reading needs no key
    with pytest.raises(WorkspaceError, match="no key was found") as caught:
        ws.security.create_user("bob")
    assert str(key_file) in str(caught.value) and "restore that file from your backup" in str(
        caught.value
    )
    with pytest.raises(WorkspaceError, match="no key was found"):
        verify_audit(ws.db)
    assert not key_file.exists() and ws.security.users() == []
    key_file.write_bytes(saved)  # restored from the backup
    ws = reopen()
    ws.security.create_user("bob")
    assert verify_audit(ws.db).ok and verify_audit(ws.db).events == 4


def test_a_wrong_key_is_refused_without_showing_either_key(
    workspace: mc.Workspace, key_file: Path, reopen: Any
) -> None:
    _append(workspace.db, 2)
    key_file.write_text(KEY_B + "\n")
    ws = reopen()
    with pytest.raises(WorkspaceError, match="is not the key this chain was sealed with") as caught:
        ws.security.create_user("bob")
    with pytest.raises(WorkspaceError, match="is not the key this chain was sealed with"):
        verify_audit(ws.db)
    assert KEY_B not in str(caught.value) and AuditKey(bytes.fromhex(KEY_B), "x").key_id in str(
        caught.value
    )


MALFORMED_KEYS = [
    b"",
    b"abc",
    b"g" * 64,
    b"a" * 63,
    b"a" * 65,
    b"a" * 64 + b"x",
    b"a" * 32 + b" " + b"a" * 32,
    "ａ".encode() * 64,
    b"\xff\xfe" * 32,
    b"a" * 64 + b"\x00",
    b"a" * 1_000_000,
]


@pytest.mark.parametrize("content", MALFORMED_KEYS, ids=range(len(MALFORMED_KEYS)))
def test_a_malformed_key_file_is_refused_without_echoing_it(tmp_path: Path, content: bytes) -> None:
    home = tmp_path / "ws"
    home.mkdir()
    (home / "audit.key").write_bytes(content)
    with pytest.raises(WorkspaceError, match=r"audit key in key file .* is not valid") as caught:
        mc.Workspace(home)
    assert len(str(caught.value)) < 500
    shown = content.decode(errors="ignore")[:8]
    if len(shown) == 8:
        assert shown not in str(caught.value)


@pytest.mark.parametrize("value", ["abc", "g" * 64, "a" * 63, "secret-" * 10, "a" * 64 + "é"])
def test_a_malformed_key_setting_is_refused_without_echoing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    monkeypatch.setenv("MODELCYCLE_AUDIT_KEY", value)
    code, out, err = run_cli(capsys, "-w", str(tmp_path / "ws"), "users", "create", "bob")
    assert code == 7 and "environment variable MODELCYCLE_AUDIT_KEY is not valid" in err
    assert value not in out + err and "Traceback" not in err


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_the_key_file_is_private_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    previous = os.umask(umask)
    try:
        mc.Workspace(tmp_path / "ws").close()
    finally:
        os.umask(previous)
    key_file = tmp_path / "ws" / "audit.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(bytes.fromhex(key_file.read_text().strip())) == 32
    assert sorted(p.name for p in key_file.parent.iterdir() if "audit" in p.name) == ["audit.key"]


def test_a_key_file_is_created_once_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "folder" / "audit.key"
    assert create_key_file(path) is True
    first = path.read_bytes()
    assert create_key_file(path) is False and path.read_bytes() == first
    path.unlink()
    path.symlink_to(tmp_path / "elsewhere")  # a dangling link is not followed or replaced
    assert create_key_file(path) is False and not (tmp_path / "elsewhere").exists()
    with pytest.raises(WorkspaceError, match="is a link to a missing file"):
        mc.Workspace(tmp_path / "ws", settings=Settings(audit_key_file=path))


def test_concurrent_first_opens_agree_on_one_key(tmp_path: Path) -> None:
    home, errors, keys = tmp_path / "ws", [], []

    def open_and_write(name: str) -> None:
        try:
            with mc.Workspace(home) as ws:
                ws.security.create_user(name)
                keys.append((home / "audit.key").read_bytes())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_and_write, args=(f"u{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(set(keys)) == 1
    with mc.Workspace(home) as ws:
        assert verify_audit(ws.db).ok and verify_audit(ws.db).events == 4


def test_the_key_setting_takes_precedence_over_the_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "ws"
    monkeypatch.setenv("MODELCYCLE_AUDIT_KEY", KEY_B)
    with mc.Workspace(home) as ws:
        ws.security.create_user("alice")
        assert _seal_rows(ws.db)[0]["key_id"] == AuditKey(bytes.fromhex(KEY_B), "x").key_id
        assert KEY_B not in repr(ws.settings) and KEY_B not in str(ws.settings)
    assert not (home / "audit.key").exists()  # neither read nor created
    (home / "audit.key").write_text("c" * 64)
    with mc.Workspace(home) as ws:
        ws.security.create_user("bob")  # still the setting's key
        assert verify_audit(ws.db).events == 2
    monkeypatch.delenv("MODELCYCLE_AUDIT_KEY")
    with mc.Workspace(home) as ws, pytest.raises(WorkspaceError, match="not the key"):
        verify_audit(ws.db)


def test_worker_processes_receive_the_key_setting() -> None:
    # 'serve --workers N' hands the settings to its workers as JSON.
    settings = Settings(home=Path("/srv/ws"), audit_key=KEY_B)
    config = WorkerConfig(workspace=settings, serve=ServeSettings())
    restored = WorkerConfig.from_env(config.to_env()).workspace.audit_key
    assert restored is not None and restored.get_secret_value() == KEY_B


def test_a_database_opened_without_its_key_cannot_append(backend_url: str) -> None:
    db = Database(backend_url)
    try:
        upgrade(db)
        with pytest.raises(WorkspaceError, match="opened without its audit key"):
            db.transaction(lambda c: append(c, actor="a", action="test.event", target="t"))
    finally:
        db.dispose()


def test_two_workspaces_in_one_process_keep_their_own_keys(tmp_path: Path) -> None:
    with mc.Workspace(tmp_path / "a") as first, mc.Workspace(tmp_path / "b") as second:
        first.security.create_user("alice")
        second.security.create_user("bob")
        first.security.create_user("carol")
        assert verify_audit(first.db).events == 2 and verify_audit(second.db).events == 1
    keys = {(tmp_path / n / "audit.key").read_bytes() for n in "ab"}
    assert len(keys) == 2


def test_open_audit_chain_reports_what_it_did(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "ws")
    db = Database(settings.resolved_db_url())
    try:
        upgrade(db)
        status = open_audit_chain(db, settings)
        assert (status.sealed, status.resealed, status.problem) == (True, 0, None)
        assert (
            status.key_id
            == AuditKey(bytes.fromhex(settings.resolved_audit_key_file().read_text()), "x").key_id
        )
        assert open_audit_chain(db, settings) == status
    finally:
        db.dispose()

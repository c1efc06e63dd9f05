"""How the audit chain is sealed: the ``audit_seal`` row and the key a database holds.

The ``audit_seal`` row names the chain's MAC algorithm and its key's public id. It is
not secret and needs no MAC of its own: deleting it, or naming another algorithm or
key, makes every append and :func:`~modelcycle.security.verify_audit` refuse, so rewriting
the chain as unkeyed (a downgrade) is caught rather than trusted.

The key itself never enters the database. :func:`attach_keyring` hangs the key a
workspace was opened with on its database engine (as an execution option, which
every connection inherits), so :func:`sealing_key` finds it from any connection that
appends or verifies, and two workspaces in one process keep their own keys.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelcycle.core import IntegrityError, WorkspaceError, now_ms
from modelcycle.security._audit_key import KEY_ENV, AuditKey
from modelcycle.store import Database, tables

#: The MAC of a sealed chain, as the ``audit_seal`` row names it.
ALGORITHM = "hmac-sha256"
_PG_AUDIT_LOCK = 0x6D63617564  # "mcaud": any constant shared by every modelcycle process
_KEYRING_OPTION = "modelcycle_audit_keyring"
_seal = tables.audit_seal


@dataclass(frozen=True)
class Keyring:
    """The audit key a database was opened with (``None`` when none was found), where it
    was looked for, and why the chain was left unsealed on open (if it was)."""

    key: AuditKey | None
    where: str
    unsealed: str | None = None


@dataclass(frozen=True)
class Seal:
    """The ``audit_seal`` row: the chain's MAC algorithm and the public id of its key."""

    algorithm: str
    key_id: str


def attach_keyring(db: Database, keyring: Keyring) -> None:
    """Make ``keyring`` the one every connection of ``db`` appends and verifies with."""
    db.engine.update_execution_options(**{_KEYRING_OPTION: keyring})


def read_seal(connection: Connection) -> Seal | None:
    """How the chain is sealed, or ``None`` before it is (or after the row was deleted)."""
    row = connection.execute(sa.select(_seal.c.algorithm, _seal.c.key_id)).first()
    return None if row is None else Seal(str(row.algorithm), str(row.key_id))


def write_seal(connection: Connection, key: AuditKey) -> None:
    """Record that the chain is sealed with ``key`` (replacing any earlier row)."""
    connection.execute(sa.delete(_seal))
    connection.execute(
        sa.insert(_seal).values(id=1, algorithm=ALGORITHM, key_id=key.key_id, sealed_at=now_ms())
    )


def lock_chain(connection: Connection) -> None:
    """Serialise writers of the chain until this transaction ends.

    SQLite write transactions (``BEGIN IMMEDIATE``) are already exclusive; on
    PostgreSQL this takes a transaction-level advisory lock, held to commit.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_AUDIT_LOCK)))


def seal_problem(seal: Seal | None, events: str) -> str | None:
    """Why a chain sealed as ``seal`` (holding ``events``) is not trusted, or ``None``."""
    if seal is None:
        return (
            f"the audit chain is not sealed with a key, but {events}: it was rewritten "
            "without the key (a downgrade), or it is an unkeyed chain from before migration "
            "0006 whose re-seal was refused; 'modelcycle audit seal' re-seals it if its "
            "unkeyed chain verifies — run it only if this workspace was just upgraded, "
            "otherwise restore the database from a backup"
        )
    if seal.algorithm != ALGORITHM:
        return (
            f"the audit seal names algorithm {seal.algorithm!r}, expected {ALGORITHM!r}: the "
            "seal record was rewritten (a downgrade); restore the database from a backup"
        )
    return None


def sealing_key(connection: Connection, seal: Seal | None) -> AuditKey:
    """The key of a chain sealed as ``seal``, from the keyring attached to ``connection``.

    Raises
    ------
    WorkspaceError
        No keyring is attached, the key is missing, or it is not the key of this chain.
    IntegrityError
        The chain is not sealed, or sealed with an algorithm modelcycle never uses.
    """
    keyring = _keyring(connection)
    if seal is None and keyring.unsealed is not None:
        raise IntegrityError(f"no audit event can be recorded: {keyring.unsealed}")
    problem = seal_problem(seal, "events may be recorded only in a sealed chain")
    if problem is not None:
        raise IntegrityError(problem)
    assert seal is not None
    key = keyring.key
    if key is None:
        raise WorkspaceError(
            f"the audit chain is sealed with key {seal.key_id}, but no key was found "
            f"({keyring.where}); restore that file from your backup or set {KEY_ENV} to the "
            "key (a new key could not verify the events already recorded)"
        )
    if key.key_id != seal.key_id:
        raise WorkspaceError(
            f"the audit key from {key.source} (id {key.key_id}) is not the key this chain "
            f"was sealed with (id {seal.key_id}); use the workspace's own key — if it is, "
            "the seal record was edited: restore the database from a backup"
        )
    return key


def _keyring(connection: Connection) -> Keyring:
    keyring = connection.get_execution_options().get(_KEYRING_OPTION)
    if not isinstance(keyring, Keyring):
        raise WorkspaceError(
            "this database was opened without its audit key, so the audit chain can be "
            "neither extended nor verified; open it as a Workspace (or call "
            "modelcycle.security.open_audit_chain first)"
        )
    return keyring

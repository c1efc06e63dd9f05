"""Opening a workspace's audit chain: load its key, seal a new chain, re-seal an old one.

:func:`open_audit_chain` runs on every workspace open, right after the schema
migrations (the key never reaches Alembic). It decides from the ``audit_seal`` row,
the chain and whether the key existed *before* this open:

- sealed already: nothing to do (a missing or wrong key is refused when the chain is
  extended or verified, with what to do);
- no events yet: the key is created if needed and the seal recorded;
- unkeyed events from before migration 0006, and no key yet: the unkeyed SHA-256
  chain is verified first — if it does not verify, nothing is changed and the chain
  stays unsealed (every append refuses, naming the broken event) — then a key is
  created and every event's MAC recomputed under it, with an ``audit.seal`` event, in
  one transaction;
- unkeyed events and a key that already existed: left as they are. That is what a
  database writer's downgrade looks like, so only an explicit ``modelcycle audit
  seal`` (:func:`seal_chain`) re-seals it.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelcycle.core import Conflict, IntegrityError, Settings
from modelcycle.security._audit import (
    GENESIS,
    append_sealed,
    chain_problem,
    event_mac,
    stored_batches,
    stored_rows,
    unkeyed_hash,
)
from modelcycle.security._audit_key import AuditKey, KeySource
from modelcycle.security._audit_seal import (
    Keyring,
    attach_keyring,
    lock_chain,
    read_seal,
    write_seal,
)
from modelcycle.security._roles import default_actor
from modelcycle.store import Database, tables

#: The action of the event that records a re-seal.
SEAL_ACTION = "audit.seal"
_events = tables.audit_events
_RESEAL_ROW = (
    sa.update(_events)
    .where(_events.c.seq == sa.bindparam("b_seq"))
    .values(prev_hash=sa.bindparam("b_prev"), hash=sa.bindparam("b_hash"))
)


@dataclass(frozen=True)
class SealStatus:
    """What :func:`open_audit_chain` found or did.

    ``sealed`` says whether the chain is sealed now; ``resealed`` counts the unkeyed
    events this call re-sealed; ``problem`` says why an unsealed chain was left as it was.
    """

    sealed: bool
    key_id: str | None = None
    resealed: int = 0
    problem: str | None = None


def open_audit_chain(db: Database, settings: Settings, *, actor: str | None = None) -> SealStatus:
    """Seal a new or upgraded chain if that is safe, and attach the key to ``db``.

    Raises
    ------
    WorkspaceError
        The key setting or key file holds no valid key, or the key file cannot be
        read or created.
    """
    source = KeySource.from_settings(settings)
    had_key = source.exists
    with db.read() as connection:
        seal = read_seal(connection)
    if seal is not None:
        status = SealStatus(True, seal.key_id)
    else:
        who = actor or default_actor()
        status = db.transaction(lambda c: _seal_on_open(c, source, had_key=had_key, actor=who))
    attach_keyring(db, Keyring(source.load(), source.where, status.problem))
    return status


def seal_chain(db: Database, settings: Settings, *, actor: str | None = None) -> SealStatus:
    """Re-seal an unkeyed chain with the workspace's key (creating it if there is none).

    The unkeyed chain is verified first; run this only for a chain that predates
    migration 0006 (see the module).

    Raises
    ------
    Conflict
        The chain is sealed already.
    IntegrityError
        The unkeyed chain does not verify; nothing was changed.
    """
    source = KeySource.from_settings(settings)

    def work(connection: Connection) -> SealStatus:
        lock_chain(connection)
        seal = read_seal(connection)
        if seal is not None:
            raise Conflict(
                f"the audit chain is sealed already (algorithm {seal.algorithm}, key "
                f"{seal.key_id}); check it with 'modelcycle audit verify'"
            )
        problem = _unkeyed_problem(connection)
        if problem is not None:
            raise IntegrityError(problem, details={"stage": "reseal"})
        return _reseal(connection, source.create(), actor or default_actor())

    status = db.transaction(work)
    attach_keyring(db, Keyring(source.load(), source.where))
    return status


def _seal_on_open(
    connection: Connection, source: KeySource, *, had_key: bool, actor: str
) -> SealStatus:
    lock_chain(connection)
    seal = read_seal(connection)
    if seal is not None:  # another process sealed it while this one waited
        return SealStatus(True, seal.key_id)
    if connection.execute(sa.select(_events.c.seq).limit(1)).first() is None:
        key = source.create()
        write_seal(connection, key)
        return SealStatus(True, key.key_id)
    if had_key:
        return SealStatus(
            False,
            problem=f"the audit chain holds unkeyed events but a key already exists "
            f"({source.where}); a chain rewritten without the key looks like this, so it is "
            "re-sealed only by 'modelcycle audit seal', and only if its unkeyed chain verifies",
        )
    broken = _unkeyed_problem(connection)
    if broken is not None:
        return SealStatus(False, problem=broken)
    return _reseal(connection, source.create(), actor)


def _unkeyed_problem(connection: Connection) -> str | None:
    """Why the unkeyed (plain SHA-256) chain does not verify, or ``None`` when it does."""
    prev, seq = GENESIS, 0
    for row in stored_rows(connection):
        reason = chain_problem(row, seq + 1, prev, unkeyed_hash(row))
        if reason is not None:
            return (
                f"the unkeyed audit chain from before migration 0006 is broken at event "
                f"{row['seq']}: {reason}; it was not re-sealed and nothing was changed; "
                "restore the database from a backup taken before the change"
            )
        prev, seq = row["hash"], seq + 1
    return None


def _reseal(connection: Connection, key: AuditKey, actor: str) -> SealStatus:
    """Recompute every event's MAC under ``key``, record the seal and an ``audit.seal``."""
    prev, count, unkeyed_head = GENESIS, 0, GENESIS
    for batch in stored_batches(connection):
        updates = []
        for row in batch:
            unkeyed_head = row["hash"]
            row["prev_hash"] = prev
            prev = event_mac(row, key)
            updates.append({"b_seq": row["seq"], "b_prev": row["prev_hash"], "b_hash": prev})
        connection.execute(_RESEAL_ROW, updates)
        count += len(batch)
    write_seal(connection, key)
    if count:
        after = {"key_id": key.key_id, "resealed_events": count, "unkeyed_head": unkeyed_head}
        append_sealed(connection, key, actor=actor, action=SEAL_ACTION, target="audit", after=after)
    return SealStatus(True, key.key_id, resealed=count)

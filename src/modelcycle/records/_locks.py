"""Serialising writers on one key, on both backends, for check-then-write transactions."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def lock_key(connection: Connection, key: str) -> None:
    """Hold a lock on ``key`` until the caller's write transaction ends.

    SQLite write transactions start with ``BEGIN IMMEDIATE`` and are already exclusive;
    on PostgreSQL this takes a transaction-level advisory lock on the key's hash, so two
    transactions that check and then insert for the same key run one after the other.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(key))))

"""Passwords and dashboard sessions: how a person in a browser becomes a principal.

A password is stored as an argon2id hash (:mod:`argon2`, RFC 9106 parameters): memory-
hard, so a stolen ``users`` table costs an attacker memory per guess, not just time.
Signing in with a password or an API key opens a session: 32 random bytes the browser
keeps in a cookie, of which the database stores only the SHA-256 (a stolen table opens
no session). A session ends at its absolute expiry, at sign-out, or when an admin
ends a user's sessions; it is re-read on every request, so a disabled user, a role
taken away, or a revoked key (for a session opened with one) counts at once.

Each session has a CSRF token derived from its id (HMAC-SHA256 of a fixed label under
the id): a page shows it in every form and the dashboard refuses a form without it. A
page of another site can neither read the cookie nor compute the token.

Failures say only "user name or password is not valid": an unknown user, a user
without a password and a wrong password are told apart in ``details["reason"]`` (for
logs and metrics), never in the message; an unknown user costs one hash check too,
so timing does not tell users apart either.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Connection

from modelcycle.core import NotFound, PermissionDenied, ValidationError, ms_to_datetime, now_ms
from modelcycle.security import _store as sql
from modelcycle.security._audit import append
from modelcycle.security._roles import Grant, Principal, default_actor
from modelcycle.store import Database, tables

#: Shortest and longest password accepted (the bound keeps one hash check cheap to ask).
MIN_PASSWORD, MAX_PASSWORD = 12, 1024
#: A session's lifetime unless the caller says otherwise.
DEFAULT_SESSION_TTL = timedelta(hours=8)
_INVALID = "user name or password is not valid"
_HASHER = PasswordHasher()
#: What an unknown user's password is checked against, with the parameters of a real hash
#: (a test fails when argon2's defaults change: the check would then take another time).
_DUMMY_PASSWORD = "modelcycle: no such user"
#: Verified when the user does not exist, so an unknown name costs a wrong password's time.
_DUMMY_HASH = (  # _HASHER.hash(_DUMMY_PASSWORD) made once: hashing at import costs 0.1 s
    "$argon2id$v=19$m=65536,t=3,p=4$8t/7pYYQNIGPwyy3AcGaNg$w2zfIoumdibLMXJJSB36MVXkc9wJf7FAyjHs9RO2OO8"
)
_sessions, _users = tables.web_sessions, tables.users


@dataclass(frozen=True)
class WebSession:
    """A signed-in browser: who it is, what it may do, when it ends, its CSRF token."""

    principal: Principal
    created_at: datetime
    expires_at: datetime
    csrf_token: str

    @property
    def user(self) -> str:
        """The signed-in user's name."""
        return self.principal.user


def check_password(password: object) -> str:
    """Return ``password`` if its length is acceptable, else raise :class:`ValidationError`."""
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValidationError(
            f"a password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long; "
            "choose a longer one (a passphrase of four words is easy to remember)"
        )
    return password


def session_hash(token: str) -> str:
    """The SHA-256 (hex) stored for a session id."""
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(token: str) -> str:
    """The CSRF token of the session ``token``: computable only with the session id."""
    return hmac.new(token.encode(), b"modelcycle csrf v1", hashlib.sha256).hexdigest()


class Sessions:
    """Passwords and sessions of one workspace database (used through ``Security``).

    Thread-safety: share freely; every method uses its own transaction.
    """

    def __init__(self, db: Database, authenticate_key: Callable[[str], Principal]) -> None:
        self._db = db
        self._authenticate_key = authenticate_key

    def set_password(self, user: str, password: str, *, actor: str | None = None) -> None:
        """Set (or replace) ``user``'s password; their open sessions end."""
        hashed = _HASHER.hash(check_password(password))

        def work(connection: Connection) -> None:
            row = _user_row(connection, user)
            connection.execute(
                sa.update(_users)
                .where(_users.c.user_id == row["user_id"])
                .values(password_hash=hashed)
            )
            _end_recorded(connection, (user, row["user_id"]), "user.password", actor)

        self._db.transaction(work)

    def login(
        self, user: str, password: str, *, ttl: timedelta = DEFAULT_SESSION_TTL
    ) -> tuple[str, WebSession]:
        """Open a session for ``user`` if ``password`` is theirs; return ``(id, session)``.

        Raises
        ------
        PermissionDenied
            Unknown user, no password set, wrong password, or a disabled user.
        """
        with self._db.read() as connection:
            row = sql.user_row(connection, user) if isinstance(user, str) else None
        stored = row.get("password_hash") if row is not None else None
        if not _verified(stored or _DUMMY_HASH, password) or row is None or stored is None:
            reason = "unknown" if row is None else "no_password" if stored is None else "wrong"
            raise PermissionDenied(_INVALID, details={"reason": reason})
        if row["disabled"]:
            raise PermissionDenied(_INVALID, details={"reason": "disabled"})
        if _HASHER.check_needs_rehash(stored):
            self.set_password(user, password, actor=user)
        return self._open(row["user_id"], user, None, ttl)

    def login_with_key(
        self, key_text: str, *, ttl: timedelta = DEFAULT_SESSION_TTL
    ) -> tuple[str, WebSession]:
        """Open a session carrying exactly an API key's role; revoking the key ends it."""
        principal = self._authenticate_key(key_text)
        with self._db.read() as connection:
            row = _user_row(connection, principal.user)
        return self._open(row["user_id"], principal.user, principal.key_prefix, ttl)

    def _open(
        self, user_id: int, user: str, key_prefix: str | None, ttl: timedelta
    ) -> tuple[str, WebSession]:
        if ttl <= timedelta(0):
            raise ValidationError(f"session lifetime {ttl} must be positive")
        token = secrets.token_urlsafe(32)
        now = now_ms()

        def work(connection: Connection) -> None:
            connection.execute(
                sa.insert(_sessions).values(
                    session_hash=session_hash(token),
                    user_id=user_id,
                    key_prefix=key_prefix,
                    created_at=now,
                    expires_at=now + int(ttl.total_seconds() * 1000),
                )
            )
            append(
                connection,
                actor=user,
                action="session.login",
                target=f"user:{user}",
                after={"via": f"key {key_prefix}" if key_prefix else "password"},
            )

        self._db.transaction(work)
        return token, self.resume(token)

    def resume(self, token: str) -> WebSession:
        """The session a browser's cookie names, checked afresh.

        Raises
        ------
        PermissionDenied
            No such session, or it ended, expired, or its user or key can no longer
            sign in (``details["reason"]`` says which).
        """
        if not isinstance(token, str) or not 0 < len(token) <= 100:
            raise PermissionDenied("not signed in", details={"reason": "malformed"})
        query = (
            sa.select(_sessions, _users.c.name, _users.c.disabled)
            .select_from(_sessions.join(_users, _users.c.user_id == _sessions.c.user_id))
            .where(_sessions.c.session_hash == session_hash(token))
        )
        with self._db.read() as connection:
            row = connection.execute(query).mappings().first()
            if row is None:
                raise PermissionDenied("not signed in", details={"reason": "unknown"})
            principal = _principal(connection, dict(row))
        created, expires = ms_to_datetime(row["created_at"]), ms_to_datetime(row["expires_at"])
        assert created is not None and expires is not None
        return WebSession(principal, created, expires, csrf_token(token))

    def logout(self, token: str) -> None:
        """End the session ``token`` names (nothing happens for an unknown one)."""
        hashed = session_hash(token)

        def work(connection: Connection) -> None:
            row = connection.execute(
                sa.select(_sessions.c.user_id, _users.c.name)
                .select_from(_sessions.join(_users, _users.c.user_id == _sessions.c.user_id))
                .where(_sessions.c.session_hash == hashed, _sessions.c.ended_at.is_(None))
            ).first()
            if row is None:
                return
            connection.execute(
                sa.update(_sessions)
                .where(_sessions.c.session_hash == hashed)
                .values(ended_at=now_ms())
            )
            append(connection, actor=row.name, action="session.logout", target=f"user:{row.name}")

        self._db.transaction(work)

    def end_sessions(self, user: str, *, actor: str | None = None) -> int:
        """End every open session of ``user`` (e.g. a lost laptop); return how many."""

        def work(connection: Connection) -> int:
            user_id = _user_row(connection, user)["user_id"]
            return _end_recorded(connection, (user, user_id), "session.revoke", actor)

        return self._db.transaction(work)

    def open_sessions(self, user: str) -> int:
        """How many unexpired sessions ``user`` has open."""
        with self._db.read() as connection:
            user_id = _user_row(connection, user)["user_id"]
            query = sa.select(sa.func.count()).where(
                _sessions.c.user_id == user_id,
                _sessions.c.ended_at.is_(None),
                _sessions.c.expires_at > now_ms(),
            )
            return int(connection.execute(query).scalar() or 0)


def _verified(stored: str, password: object) -> bool:
    if not isinstance(password, str) or len(password) > MAX_PASSWORD:
        return False
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _user_row(connection: Connection, user: str) -> dict[str, Any]:
    row = sql.user_row(connection, user)
    if row is None:
        raise NotFound(
            f"user {user!r} does not exist; create it with 'modelcycle users create {user}'"
        )
    return row


def _end_recorded(
    connection: Connection, user: tuple[str, int], action: str, actor: str | None
) -> int:
    """End every open session of ``user`` (name, id) and audit ``action``; return how many."""
    name, user_id = user
    ended = connection.execute(
        sa.update(_sessions)
        .where(_sessions.c.user_id == user_id, _sessions.c.ended_at.is_(None))
        .values(ended_at=now_ms())
    )
    count = int(ended.rowcount or 0)
    append(
        connection,
        actor=actor or default_actor(),
        action=action,
        target=f"user:{name}",
        after={"sessions_ended": count},
    )
    return count


def _principal(connection: Connection, row: dict[str, Any]) -> Principal:
    """Who a stored session stands for now, or :class:`PermissionDenied` saying why not."""
    if row["ended_at"] is not None:
        raise PermissionDenied("the session ended; sign in again", details={"reason": "ended"})
    if row["expires_at"] <= now_ms():
        raise PermissionDenied("the session expired; sign in again", details={"reason": "expired"})
    if row["disabled"]:
        raise PermissionDenied(
            f"user {row['name']!r} is disabled; ask an admin", details={"reason": "disabled"}
        )
    grants = sql.grants_of(connection, row["user_id"])
    if row["key_prefix"] is None:
        return Principal(row["name"], grants)
    key = sql.key_row(connection, row["key_prefix"])
    now = now_ms()
    usable = (
        key is not None
        and key["revoked_at"] is None
        and (key["expires_at"] is None or key["expires_at"] > now)
        and any(g.covers(key["role"], key["model"]) for g in grants)
    )
    if not usable or key is None:
        raise PermissionDenied(
            f"the API key {row['key_prefix']} this session was opened with no longer works; "
            "sign in again",
            details={"reason": "key"},
        )
    return Principal(row["name"], (Grant(key["role"], key["model"]),), key["prefix"])

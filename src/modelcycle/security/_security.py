"""The security service: users, role grants, API keys, and who may do what.

Every change (user created or disabled, role granted or revoked, key created or
revoked) writes one audit event in the same transaction. Keys are shown once,
by :meth:`Security.create_key`; only their SHA-256 is stored, and no message,
log line or audit event ever contains a key's text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from modelcycle.core import (
    MODEL_NAME,
    USER_NAME,
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationError,
    ms_to_datetime,
    new_id,
    now_ms,
)
from modelcycle.security import _store as sql
from modelcycle.security._audit import AuditEvent, append, list_events
from modelcycle.security._keys import (
    KeyInfo,
    hash_matches,
    key_hash,
    key_info,
    key_prefix,
    looks_like_key,
    new_key,
)
from modelcycle.security._roles import Grant, Principal, authorize, check_role, default_actor
from modelcycle.security._sessions import Sessions
from modelcycle.store import Database

_TOUCH_EVERY_MS = 60_000  # record last use at most once a minute per key
_INVALID = "API key is not valid"


@dataclass(frozen=True)
class User:
    """A user, their grants and whether they are disabled (an immutable snapshot)."""

    name: str
    created_at: datetime
    disabled: bool
    grants: tuple[Grant, ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "name": self.name,
            "created_at": self.created_at.isoformat(),
            "disabled": self.disabled,
            "grants": [{"role": g.role, "model": g.model} for g in self.grants],
        }


def check_user_name(name: object) -> str:
    """Return ``name`` if it is a valid user name (:data:`~modelcycle.core.USER_NAME`)."""
    return USER_NAME.check(name)


def _check_model(model: str | None) -> str | None:
    """A model a new grant or key is scoped to: a valid model name, or ``None`` (every model)."""
    return None if model is None else MODEL_NAME.check(model)


def _known_model(model: str | None) -> str | None:
    """A model named to remove a grant: any name a grant may hold, including older ones."""
    if model is not None and (not isinstance(model, str) or not 0 < len(model) <= 100):
        raise ValidationError(f"model name {model!r} is not valid; expected 1-100 characters")
    return model


class Security:
    """Users, roles and API keys of one workspace database.

    Thread-safety: share freely; every method uses its own transaction. Returned
    :class:`User`, :class:`KeyInfo` and :class:`Principal` objects are immutable.

    Examples
    --------
    >>> security = Security(workspace.db)  # doctest: +SKIP
    >>> security.create_user("alice")  # doctest: +SKIP
    >>> security.grant("alice", "predictor", model="churn")  # doctest: +SKIP
    >>> key, info = security.create_key("alice", "predictor", model="churn")  # doctest: +SKIP
    >>> security.authorize(security.authenticate(key), "predict", "churn")  # doctest: +SKIP
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        #: Passwords and dashboard sessions (see :class:`~modelcycle.security.Sessions`).
        self.sessions = Sessions(db, self.authenticate)

    # -- users and grants ---------------------------------------------------------

    def create_user(self, name: str, *, actor: str | None = None) -> User:
        """Add a user (without roles).

        Raises
        ------
        Conflict
            A user of that name exists.
        """
        check_user_name(name)

        def work(connection: Connection) -> None:
            if sql.user_row(connection, name) is not None:
                raise Conflict(
                    f"user {name!r} already exists; list users with 'modelcycle users list'"
                )
            sql.insert_user(connection, name)
            append(
                connection,
                actor=actor or default_actor(),
                action="user.create",
                target=f"user:{name}",
                after={"name": name},
            )

        self.db.transaction(work)
        return self.user(name)

    def user(self, name: str) -> User:
        """One user with their grants."""
        with self.db.read() as connection:
            return _user(connection, _require_user(connection, name))

    def users(self) -> list[User]:
        """Every user, by name."""
        with self.db.read() as connection:
            return [_user(connection, row) for row in sql.user_rows(connection)]

    def set_disabled(self, name: str, disabled: bool = True, *, actor: str | None = None) -> User:
        """Disable (or enable) a user; a disabled user's keys are refused."""

        def work(connection: Connection) -> None:
            row = _require_user(connection, name)
            if bool(row["disabled"]) == disabled:
                return
            sql.set_disabled(connection, row["user_id"], disabled)
            append(
                connection,
                actor=actor or default_actor(),
                action="user.disable" if disabled else "user.enable",
                target=f"user:{name}",
                before={"disabled": not disabled},
                after={"disabled": disabled},
            )

        self.db.transaction(work)
        return self.user(name)

    def grant(
        self, user: str, role: str, *, model: str | None = None, actor: str | None = None
    ) -> User:
        """Give ``user`` a role, workspace-wide or for one registered model (idempotent)."""
        grant = Grant(check_role(role), _check_model(model))

        def work(connection: Connection) -> None:
            row = _require_user(connection, user)
            if sql.insert_grant(connection, row["user_id"], grant):
                append(
                    connection,
                    actor=actor or default_actor(),
                    action="user.grant",
                    target=f"user:{user}",
                    after={"role": role, "model": model},
                )

        self.db.transaction(work)
        return self.user(user)

    def revoke_grant(
        self, user: str, role: str, *, model: str | None = None, actor: str | None = None
    ) -> User:
        """Take a role away; keys that relied on it stop working.

        Raises
        ------
        NotFound
            The user does not hold that role in that scope.
        """
        grant = Grant(check_role(role), _known_model(model))

        def work(connection: Connection) -> None:
            row = _require_user(connection, user)
            if not sql.delete_grant(connection, row["user_id"], grant):
                held = ", ".join(str(g) for g in sql.grants_of(connection, row["user_id"]))
                raise NotFound(f"user {user!r} does not hold {grant}; they hold: {held or 'none'}")
            append(
                connection,
                actor=actor or default_actor(),
                action="user.revoke",
                target=f"user:{user}",
                before={"role": role, "model": model},
            )

        self.db.transaction(work)
        return self.user(user)

    def principal(self, user: str) -> Principal:
        """The principal of a signed-in user (e.g. a dashboard session): all their grants."""
        with self.db.read() as connection:
            row = _require_user(connection, user)
            if row["disabled"]:
                raise PermissionDenied(f"user {user!r} is disabled; ask an admin to enable them")
            return Principal(user, sql.grants_of(connection, row["user_id"]))

    # -- API keys -----------------------------------------------------------------

    def create_key(
        self,
        user: str,
        role: str,
        model: str | None = None,
        *,
        expires: timedelta | None = None,
        actor: str | None = None,
    ) -> tuple[str, KeyInfo]:
        """Create an API key; return ``(key_text, info)``. The text is shown only here.

        The user must hold ``role`` (or ``admin``) workspace-wide or for ``model``.

        Raises
        ------
        PermissionDenied
            The user does not hold the role in that scope, or is disabled.
        """
        check_role(role)
        _check_model(model)
        if expires is not None and expires <= timedelta(0):
            raise ValidationError(f"key lifetime {expires} must be positive, e.g. '90d'")

        def work(connection: Connection) -> tuple[str, dict[str, Any]]:
            row = _require_user(connection, user)
            _check_may_hold(connection, row, role, model)
            key_text = _unused_key(connection)
            now = now_ms()
            stored = {
                "key_id": new_id(),
                "prefix": key_prefix(key_text),
                "key_hash": key_hash(key_text),
                "user_id": row["user_id"],
                "role": role,
                "model": model,
                "created_at": now,
                "expires_at": None
                if expires is None
                else now + int(expires.total_seconds() * 1000),
                "revoked_at": None,
                "last_used_at": None,
            }
            sql.insert_key(connection, stored)
            append(
                connection,
                actor=actor or default_actor(),
                action="key.create",
                target=f"key:{stored['prefix']}",
                after=_key_audit(stored, user),
            )
            return key_text, stored

        key_text, stored = self.db.transaction(work)
        return key_text, key_info(stored, user)

    def list_keys(self, user: str | None = None) -> list[KeyInfo]:
        """Every key (of one user), oldest first; only prefixes, never key text."""
        with self.db.read() as connection:
            return [key_info(row, row["user_name"]) for row in sql.key_rows(connection, user)]

    def revoke_key(self, prefix: str, *, actor: str | None = None) -> KeyInfo:
        """Revoke the key named by its prefix (idempotent: a revoked key stays revoked)."""

        def work(connection: Connection) -> dict[str, Any]:
            row = _require_key(connection, prefix)
            if row["revoked_at"] is None:
                row["revoked_at"] = when = now_ms()
                sql.revoke_key(connection, row["key_id"], when)
                append(
                    connection,
                    actor=actor or default_actor(),
                    action="key.revoke",
                    target=f"key:{row['prefix']}",
                    before=_key_audit(row, row["user_name"]),
                    after={"revoked": True},
                )
            return row

        row = self.db.transaction(work)
        return key_info(row, row["user_name"])

    def authenticate(self, key_text: str) -> Principal:
        """The principal a key stands for.

        Raises
        ------
        PermissionDenied
            The key is unknown, wrong, revoked or expired, its user is disabled, or the
            user no longer holds the key's role. The message never contains the key;
            ``details["reason"]`` is one of ``malformed``, ``unknown``, ``revoked``,
            ``expired``, ``disabled`` or ``role_revoked`` (for metrics).
        """
        if not looks_like_key(key_text):
            raise PermissionDenied(
                f"{_INVALID}: expected 'mc_' and 43 characters", details={"reason": "malformed"}
            )
        with self.db.read() as connection:
            row = sql.key_row(connection, key_prefix(key_text))
            if row is None or not hash_matches(key_text, row["key_hash"]):
                raise PermissionDenied(
                    f"{_INVALID}: no such key; create one with 'modelcycle keys create'",
                    details={"reason": "unknown"},
                )
            _check_usable(row)
            user = sql.user_row(connection, row["user_name"])
            assert user is not None
            grants = sql.grants_of(connection, user["user_id"])
        if not any(g.covers(row["role"], row["model"]) for g in grants):
            raise PermissionDenied(
                f"API key {row['prefix']} of user {row['user_name']!r} is for role "
                f"{row['role']!r}, which the user no longer holds; grant it again or create a "
                "new key",
                details={"reason": "role_revoked"},
            )
        self._touch(row)
        return Principal(row["user_name"], (Grant(row["role"], row["model"]),), row["prefix"])

    def _touch(self, row: dict[str, Any]) -> None:
        now = now_ms()
        if row["last_used_at"] is None or now - row["last_used_at"] >= _TOUCH_EVERY_MS:
            self.db.transaction(lambda c: sql.touch_key(c, row["key_id"], now))

    def authorize(self, principal: Principal, action: str, model: str | None = None) -> None:
        """Allow ``action`` on ``model`` or raise :class:`PermissionDenied` (see ``authorize``)."""
        authorize(principal, action, model)

    def audit_events(
        self,
        *,
        since: datetime | None = None,
        actor: str | None = None,
        target: str | None = None,
        action: str | None = None,
        limit: int | None = None,
    ) -> list[AuditEvent]:
        """Audit events oldest first, filtered as :func:`~modelcycle.security.list_events` does."""
        return list_events(
            self.db, since=since, actor=actor, target=target, action=action, limit=limit
        )


def _require_user(connection: Connection, name: str) -> dict[str, Any]:
    row = sql.user_row(connection, name)
    if row is None:
        raise NotFound(
            f"user {name!r} does not exist; create it with 'modelcycle users create {name}'"
        )
    return row


def _require_key(connection: Connection, prefix: str) -> dict[str, Any]:
    # A whole key may be pasted here: look up and name only its public prefix.
    prefix = key_prefix(prefix)
    row = sql.key_row(connection, prefix)
    if row is None:
        raise NotFound(f"no API key has prefix {prefix!r}; list keys with 'modelcycle keys list'")
    return row


def _user(connection: Connection, row: dict[str, Any]) -> User:
    created = ms_to_datetime(row["created_at"])
    assert created is not None
    grants = sql.grants_of(connection, row["user_id"])
    return User(row["name"], created, bool(row["disabled"]), grants)


def _check_may_hold(
    connection: Connection, row: dict[str, Any], role: str, model: str | None
) -> None:
    name = row["name"]
    if row["disabled"]:
        raise PermissionDenied(f"user {name!r} is disabled; enable them before creating keys")
    if not any(g.covers(role, model) for g in sql.grants_of(connection, row["user_id"])):
        scope = f" --model {model}" if model else ""
        where = f" for model {model!r}" if model else " workspace-wide"
        raise PermissionDenied(
            f"user {name!r} does not hold role {role!r}{where}, so a key cannot carry it; "
            f"grant it first with 'modelcycle users grant {name} {role}{scope}'"
        )


def _unused_key(connection: Connection) -> str:
    while True:
        key_text = new_key()
        if not sql.prefix_taken(connection, key_prefix(key_text)):
            return key_text


def _check_usable(row: dict[str, Any]) -> None:
    named = f"API key {row['prefix']} of user {row['user_name']!r}"
    if row["revoked_at"] is not None:
        when = ms_to_datetime(row["revoked_at"])
        raise PermissionDenied(
            f"{named} was revoked at {when:%Y-%m-%d %H:%M:%S} UTC; create a new key",
            details={"reason": "revoked"},
        )
    if row["expires_at"] is not None and row["expires_at"] <= now_ms():
        when = ms_to_datetime(row["expires_at"])
        raise PermissionDenied(
            f"{named} expired at {when:%Y-%m-%d %H:%M:%S} UTC; create a new key",
            details={"reason": "expired"},
        )
    if row["disabled"]:
        raise PermissionDenied(
            f"{named}: the user is disabled; ask an admin to enable them",
            details={"reason": "disabled"},
        )


def _key_audit(row: dict[str, Any], user: str) -> dict[str, Any]:
    expires = ms_to_datetime(row["expires_at"])
    return {
        "prefix": row["prefix"],
        "user": user,
        "role": row["role"],
        "model": row["model"],
        "expires_at": expires.astimezone(UTC).isoformat() if expires else None,
    }

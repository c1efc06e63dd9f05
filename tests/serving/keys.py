"""API keys of every role and state, for the authorization tests (issue 6)."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

import modelcycle as mc
from modelcycle.core import now_ms
from modelcycle.security import ROLES
from modelcycle.store import tables

STATES = ("none", "wrong", "expired", "revoked", "other_model", "valid")


@dataclass
class Keys:
    """``keys[role][state]``: the Authorization header value (``None``: no header)."""

    by_role: dict[str, dict[str, str | None]] = field(default_factory=dict)

    def header(self, role: str, state: str) -> dict[str, str]:
        key = self.by_role[role][state]
        return {} if key is None else {"Authorization": f"Bearer {key}"}

    def texts(self) -> list[str]:
        """Every key text handed out (to grep captured output for)."""
        return [k for states in self.by_role.values() for k in states.values() if k]


def make_keys(ws: mc.Workspace, tag: str, *, other_model: str = "cancer") -> Keys:
    """One user per role (``<tag>-<role>``), workspace-wide and for ``other_model`` only."""
    security, keys = ws.security, Keys()
    for role in ROLES:
        user, scoped = f"{tag}-{role}", f"{tag}-{role}-scoped"
        for name in (user, scoped):
            security.create_user(name, actor="test")
        security.grant(user, role, actor="test")
        security.grant(scoped, role, model=other_model, actor="test")
        valid, _ = security.create_key(user, role)
        expired, expired_info = security.create_key(user, role)
        revoked, revoked_info = security.create_key(user, role)
        security.revoke_key(revoked_info.prefix, actor="test")
        other, _ = security.create_key(scoped, role, other_model)
        _expire(ws, expired_info.prefix)
        wrong = valid[:-4] + ("AAAA" if valid[-4:] != "AAAA" else "BBBB")
        keys.by_role[role] = {
            "none": None,
            "wrong": wrong,
            "expired": expired,
            "revoked": revoked,
            "other_model": other,
            "valid": valid,
        }
    return keys


def _expire(ws: mc.Workspace, prefix: str) -> None:
    keys = tables.api_keys
    update = sa.update(keys).where(keys.c.prefix == prefix).values(expires_at=now_ms() - 1000)
    ws.db.transaction(lambda connection: connection.execute(update))

"""Layer 3 security: users, roles, API keys, and the tamper-evident audit chain."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelcycle._lazy import lazy_exports

if TYPE_CHECKING:
    from modelcycle.security._audit import (
        AuditEvent,
        ChainHead,
        VerifyResult,
        audit_head,
        list_events,
        verify_audit,
    )
    from modelcycle.security._keys import KeyInfo, parse_duration
    from modelcycle.security._roles import ROLES, Grant, Principal
    from modelcycle.security._security import Security, User
    from modelcycle.security._sessions import DEFAULT_SESSION_TTL, Sessions, WebSession

# Loaded on first use: the CLI names the roles in its help without loading SQLAlchemy.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "modelcycle.security._audit": (
            "AuditEvent",
            "ChainHead",
            "VerifyResult",
            "audit_head",
            "list_events",
            "verify_audit",
        ),
        "modelcycle.security._keys": ("KeyInfo", "parse_duration"),
        "modelcycle.security._roles": ("ROLES", "Grant", "Principal"),
        "modelcycle.security._security": ("Security", "User"),
        "modelcycle.security._sessions": ("DEFAULT_SESSION_TTL", "Sessions", "WebSession"),
    },
)

__all__ = [
    "DEFAULT_SESSION_TTL",
    "ROLES",
    "AuditEvent",
    "ChainHead",
    "Grant",
    "KeyInfo",
    "Principal",
    "Security",
    "Sessions",
    "User",
    "VerifyResult",
    "WebSession",
    "audit_head",
    "list_events",
    "parse_duration",
    "verify_audit",
]

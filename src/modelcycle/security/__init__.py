"""Layer 3 security: users, roles, API keys, and the tamper-evident audit chain."""

from __future__ import annotations

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

"""Roles, actions and the permission matrix; who a caller is and what they may do.

=============  ===========================================================
role           actions
=============  ===========================================================
``admin``      everything, including ``manage`` (users, keys, the audit log)
``maintainer`` ``read``, ``train``, ``register``, ``promote``, ``rollback``,
               ``configure`` (gates, monitoring and retraining policies)
``viewer``     ``read`` (runs, models, reports, monitoring)
``predictor``  ``predict``, ``feedback`` (delayed labels)
=============  ===========================================================

A maintainer also reads: changing a model without seeing it is not a real job.
A grant (or key) scoped to one model allows its actions on that model only;
actions on no model (listing everything, ``manage``) need a workspace-wide grant.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass

from modelcycle.core import PermissionDenied, ValidationError

ROLES = ("admin", "maintainer", "viewer", "predictor")
ACTIONS = (
    "read",
    "train",
    "register",
    "promote",
    "rollback",
    "configure",
    "predict",
    "feedback",
    "manage",
)
PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(ACTIONS),
    "maintainer": frozenset({"read", "train", "register", "promote", "rollback", "configure"}),
    "viewer": frozenset({"read"}),
    "predictor": frozenset({"predict", "feedback"}),
}


def check_role(role: str) -> str:
    """Return ``role`` if it is one of :data:`ROLES`, else raise :class:`ValidationError`."""
    if role not in ROLES:
        raise ValidationError(f"role {role!r} is not known; expected one of {', '.join(ROLES)}")
    return role


def check_action(action: str) -> str:
    """Return ``action`` if it is one of :data:`ACTIONS`, else raise :class:`ValidationError`."""
    if action not in ACTIONS:
        raise ValidationError(
            f"action {action!r} is not known; expected one of {', '.join(ACTIONS)}"
        )
    return action


@dataclass(frozen=True)
class Grant:
    """A role held workspace-wide (``model is None``) or for one registered model."""

    role: str
    model: str | None = None

    def allows(self, action: str, model: str | None) -> bool:
        """Whether this grant permits ``action`` on ``model`` (``None``: on no one model)."""
        in_scope = self.model is None or self.model == model
        return in_scope and action in PERMISSIONS[self.role]

    def covers(self, role: str, model: str | None) -> bool:
        """Whether a holder may hand out ``role`` for ``model`` (e.g. on an API key)."""
        in_scope = self.model is None or self.model == model
        return in_scope and self.role in (role, "admin")

    def __str__(self) -> str:
        return self.role if self.model is None else f"{self.role} for model {self.model!r}"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a user and the grants the credential carries.

    A principal from an API key carries exactly the key's role and scope; the key
    text is never part of it, only the key's public ``key_prefix``.
    """

    user: str
    grants: tuple[Grant, ...]
    key_prefix: str | None = None

    def describe(self) -> str:
        """``user 'alice' (key mc_ab12c, predictor for model 'churn')`` for messages."""
        held = ", ".join(str(g) for g in self.grants) or "no role"
        via = f"key {self.key_prefix}, " if self.key_prefix else ""
        return f"user {self.user!r} ({via}{held})"


def authorize(principal: Principal, action: str, model: str | None = None) -> None:
    """Allow ``action`` (on ``model``) or raise :class:`PermissionDenied` naming what is missing.

    Examples
    --------
    >>> alice = Principal("alice", (Grant("predictor", "churn"),))
    >>> authorize(alice, "predict", "churn")
    >>> authorize(alice, "predict", "fraud")
    Traceback (most recent call last):
    ...
    modelcycle.core._errors.PermissionDenied: user 'alice' (predictor for model 'churn') may not predict model 'fraud'; ask an admin for a role that allows it, e.g. 'modelcycle users grant alice predictor --model fraud'
    """  # noqa: E501
    check_action(action)
    if any(grant.allows(action, model) for grant in principal.grants):
        return
    what = f"{action} model {model!r}" if model is not None else f"{action} (workspace-wide)"
    scope = f" --model {model}" if model is not None else ""
    raise PermissionDenied(
        f"{principal.describe()} may not {what}; ask an admin for a role that allows it, e.g. "
        f"'modelcycle users grant {principal.user} {_least_role(action)}{scope}'",
        details={"user": principal.user, "action": action, "model": model},
    )


def _least_role(action: str) -> str:
    for role in reversed(ROLES):
        if action in PERMISSIONS[role]:
            return role
    return "admin"  # pragma: no cover


def default_actor() -> str:
    """The operating-system user, the actor of changes made outside the HTTP server."""
    try:
        return getpass.getuser() or "unknown"
    except (KeyError, OSError):
        return "unknown"

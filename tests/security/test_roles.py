"""The permission matrix: every role x action x model scope, and the messages it gives."""

from __future__ import annotations

import pytest

from modelcycle.core import PermissionDenied, ValidationError
from modelcycle.security import ROLES, Grant, Principal
from modelcycle.security._roles import ACTIONS, authorize

# What each role may do, written out in full so a change to the matrix is a visible diff.
EXPECTED = {
    "admin": set(ACTIONS),
    "maintainer": {"read", "train", "register", "promote", "rollback", "configure"},
    "viewer": {"read"},
    "predictor": {"predict", "feedback"},
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("scope", [None, "churn"])
@pytest.mark.parametrize("model", [None, "churn", "fraud"])
def test_permission_matrix(role: str, action: str, scope: str | None, model: str | None) -> None:
    principal = Principal("alice", (Grant(role, scope),), key_prefix="mc_abcde")
    in_scope = scope is None or scope == model
    if action in EXPECTED[role] and in_scope:
        authorize(principal, action, model)
        return
    with pytest.raises(PermissionDenied) as caught:
        authorize(principal, action, model)
    message = str(caught.value)
    assert "user 'alice' (key mc_abcde" in message and action in message
    assert "modelcycle users grant alice" in message
    if model is not None:
        assert repr(model) in message


def test_several_grants_combine() -> None:
    principal = Principal("bob", (Grant("viewer"), Grant("maintainer", "churn")))
    authorize(principal, "read", "fraud")
    authorize(principal, "promote", "churn")
    with pytest.raises(PermissionDenied, match="may not promote model 'fraud'"):
        authorize(principal, "promote", "fraud")


def test_no_grant_is_refused_and_unknown_actions_are_invalid() -> None:
    with pytest.raises(PermissionDenied, match=r"\(no role\) may not read"):
        authorize(Principal("carol", ()), "read")
    with pytest.raises(ValidationError, match="action 'delete_everything' is not known"):
        authorize(Principal("carol", (Grant("admin"),)), "delete_everything")


def test_model_scoped_admin_cannot_manage_the_workspace() -> None:
    principal = Principal("dan", (Grant("admin", "churn"),))
    authorize(principal, "manage", "churn")
    with pytest.raises(PermissionDenied, match=r"manage \(workspace-wide\)"):
        authorize(principal, "manage")

"""Every state change of tracking and the registry writes one audit event, in its transaction."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy.engine import Connection

import modelcycle as mc
from modelcycle.core import Conflict, PermissionDenied
from modelcycle.registry import PromotionRefused
from modelcycle.security import list_events, verify_audit
from modelcycle.security._audit import append
from modelcycle.security._roles import default_actor
from tests.models import Data, log_logistic


class ConstantModel:
    """A model of the caller's own class (so registering it needs trust)."""

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.zeros(len(frame))


def _actions(ws: mc.Workspace, **filters: Any) -> list[str]:
    return [e.action for e in list_events(ws.db, **filters)]


def test_lifecycle_of_a_model_is_audited(workspace: mc.Workspace, cancer: Data) -> None:
    registry = workspace.registry
    first = log_logistic(workspace, cancer, 1.0)
    second = log_logistic(workspace, cancer, 1e-6)
    registry.register(first, "cancer", actor="alice")
    registry.register(second, "cancer", actor="alice")
    registry.set_gates("cancer", {"beat_champion": "test_roc_auc", "beat_by": 0.5}, actor="bob")
    registry.promote("cancer", 1, actor="bob")
    registry.promote("cancer", 2, force=True, actor="bob")
    registry.rollback("cancer", actor="carol")
    registry.archive("cancer", 2, actor="carol")
    registry.restore("cancer", 2, actor="carol")
    registry.describe("cancer", "screening aid", actor="carol")
    assert _actions(workspace, target="cancer") == [
        "version.register",
        "version.register",
        "model.gates",
        "alias.promote",
        "alias.promote",
        "alias.rollback",
        "version.archive",
        "version.restore",
        "model.describe",
    ]
    forced = list_events(workspace.db, action="alias.promote")[-1]
    assert (forced.actor, forced.target, forced.before) == (
        "bob",
        "cancer@champion",
        {"version": 1},
    )
    assert forced.after["version"] == 2 and forced.after["forced"] is True
    assert forced.after["reasons"] and "test_roc_auc" in forced.after["reasons"][0]
    rollback = list_events(workspace.db, action="alias.rollback")[0]
    assert (rollback.actor, rollback.before, rollback.after) == (
        "carol",
        {"version": 2},
        {"version": 1},
    )
    runs = list_events(workspace.db, action="run.create")
    assert {e.target for e in runs} == {f"run:{first}", f"run:{second}"}
    assert verify_audit(workspace.db).ok


def test_trusted_registration_and_deletion_are_audited(workspace: mc.Workspace) -> None:
    sample = pd.DataFrame({"a": [1.0, 2.0]})
    with workspace.start_run(actor="dana") as run:
        run.log_model(ConstantModel(), signature=sample, flavor="pickle", trusted=True)
    with pytest.raises(PermissionDenied, match=r"register it with trusted=True"):
        workspace.registry.register(run, "constant")
    version = workspace.registry.register(run, "constant", trusted=True)
    workspace.registry.archive("constant", version.version)
    workspace.registry.delete_version("constant", version.version, actor="erin")
    events = list_events(workspace.db)
    assert (events[0].action, events[0].actor) == ("run.create", "dana")
    assert [e.action for e in events][1:] == [
        "version.register.trusted",
        "version.archive",
        "version.delete",
    ]
    assert events[1].after["trusted"] == 1 and events[3].actor == "erin"
    assert events[1].actor == default_actor()


def test_a_failed_change_writes_no_event(workspace: mc.Workspace, cancer: Data) -> None:
    workspace.registry.register(log_logistic(workspace, cancer, 1.0), "cancer")
    workspace.registry.set_gates("cancer", {"min_metrics": {"test_roc_auc": 2.0}})
    before = list_events(workspace.db)
    with pytest.raises(PromotionRefused):
        workspace.registry.promote("cancer", 1)
    workspace.registry.promote("cancer", 1, force=True)
    with pytest.raises(Conflict):
        workspace.registry.archive("cancer", 1)
    assert _actions(workspace)[len(before) :] == ["alias.promote"]


def test_a_failed_audit_append_undoes_the_change(
    workspace: mc.Workspace, cancer: Data, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace.registry.register(log_logistic(workspace, cancer, 1.0), "cancer")
    events = len(list_events(workspace.db))

    def failing_append(connection: Connection, **fields: Any) -> None:
        append(connection, **fields)
        raise RuntimeError("the disk is full")

    monkeypatch.setattr("modelcycle.registry._registry.append", failing_append)
    with pytest.raises(RuntimeError, match="the disk is full"):
        workspace.registry.promote("cancer", 1)
    with pytest.raises(RuntimeError, match="the disk is full"):
        workspace.registry.set_gates("cancer", {"min_metrics": {"test_roc_auc": 0.5}})
    assert workspace.registry.resolve("cancer/1").aliases == ()
    assert workspace.registry.gates("cancer").min_metrics == {}
    assert len(list_events(workspace.db)) == events and verify_audit(workspace.db).ok

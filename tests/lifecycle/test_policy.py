"""Policies: TOML in, precise errors out, stored per model with every change audited."""

from __future__ import annotations

from pathlib import Path

import pytest

import modelcycle as mc
from modelcycle.core import NotFound, ValidationError
from modelcycle.lifecycle import Policy, PolicyStore
from modelcycle.security import list_events, verify_audit
from tests.lifecycle.helpers import register_small_model, source_file
from tests.models import run_cli

EXAMPLE = """
model = "churn"

[monitoring]
every = "5m"
window_rows = 5000
webhook = "http://127.0.0.1:9000/hook"

[[monitoring.alerts]]
name = "feature drift"
metric = "psi"
op = ">"
threshold = 0.2
top_features = 10

[[monitoring.alerts]]
name = "auc drop"
rule = "realized.roc_auc < 0.8 min 200"

[retraining]
on_alerts = ["feature drift", "auc drop"]
every = "7d"
new_labels = 1000
source = "data/churn.csv"
include_feedback = true
budget = 60
mode = "promote"
holdout_share = 0.3
min_improvement = 0.0
confidence = 0.95

[rollback]
enabled = true
min_labelled_rows = 300
"""


def _write(folder: Path, text: str, name: str = "churn.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_the_documented_example_reads_and_round_trips(tmp_path: Path) -> None:
    policy = Policy.from_toml(_write(tmp_path, EXAMPLE))
    assert policy.model == "churn"
    assert policy.monitoring.every_s == 300.0 and policy.monitoring.window_rows == 5000
    assert policy.monitoring.alert_names == ["feature drift", "auc drop"]
    assert policy.monitoring.rules()[1].metric == "realized.roc_auc"
    retraining = policy.retraining
    assert retraining is not None
    assert retraining.every_s == 7 * 86400.0 and retraining.new_labels == 1000
    # A relative source is anchored at the policy file's folder.
    assert retraining.source == str(tmp_path / "data" / "churn.csv")
    assert policy.rollback.min_labelled_rows == 300
    again = Policy.from_toml(_write(tmp_path, policy.to_toml(), "again.toml"))
    assert again == policy
    assert Policy.from_json(policy.to_json()) == policy


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('every = "5m"', 'every = "soon"'), "monitoring.every = 'soon': duration 'soon'"),
        (("window_rows = 5000", "window_rows = -3"), "monitoring.window_rows = -3"),
        (("budget = 60", "budget = 0"), "retraining.budget = 0: Input should be greater"),
        (('mode = "promote"', 'mode = "yolo"'), "retraining.mode = 'yolo'"),
        (("holdout_share = 0.3", "holdout_share = 1.5"), "retraining.holdout_share = 1.5"),
        (("confidence = 0.95", "confidence = 2"), "retraining.confidence = 2"),
        (("new_labels = 1000", "new_lables = 1000"), "retraining.new_lables = 1000: unknown"),
        (("threshold = 0.2", 'threshold = "high"'), "alert rule #0 ('feature drift')"),
        (('"auc drop"]', '"auc dorp"]'), "on_alerts names ['auc dorp']"),
        (('webhook = "http', 'webhook = "ftp'), "monitoring.webhook = 'ftp://127.0.0.1"),
        (('model = "churn"', 'model = "9 lives"'), "model = '9 lives': not a model name"),
    ],
)
def test_errors_name_the_file_field_value_and_expectation(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    old, new = change
    assert old in EXAMPLE
    path = _write(tmp_path, EXAMPLE.replace(old, new, 1))
    with pytest.raises(ValidationError) as caught:
        Policy.from_toml(path)
    message = str(caught.value)
    assert message.startswith(f"policy file {str(path)!r} is not valid: ")
    assert expected in message


def test_a_policy_for_a_missing_model_or_source_is_refused(
    workspace: mc.Workspace, tmp_path: Path
) -> None:
    """Issue 12: 'policy set' stored policies for models and files that did not exist."""
    store = PolicyStore(workspace.db)
    with pytest.raises(NotFound, match="model 'churn': no model of that name is registered"):
        store.set({"model": "churn", "monitoring": {"every": "1h"}})
    register_small_model(workspace, "churn")
    missing = {"model": "churn", "retraining": {"source": str(tmp_path / "gone.csv")}}
    with pytest.raises(NotFound, match=r"retraining.source '.*gone.csv' does not exist"):
        store.set(missing)
    assert store.list() == []
    url = {"model": "churn", "retraining": {"source": "sqlite:///x.db", "query": "select 1"}}
    assert store.set(url).model == "churn"  # a database is checked when it is read


def test_unknown_fields_list_the_known_ones() -> None:
    with pytest.raises(ValidationError) as caught:
        Policy.from_mapping({"model": "churn", "rollback": {"enabled": True, "min_rows": 3}})
    assert "rollback.min_rows = 3: unknown field; expected one of ['check_every', 'enabled', " in (
        str(caught.value)
    )
    assert caught.value.details["errors"][0]["field"] == "rollback.min_rows"


def test_missing_required_fields_and_bad_toml_are_named(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"retraining\.source is required"):
        Policy.from_mapping({"model": "churn", "retraining": {"budget": 5}})
    with pytest.raises(ValidationError, match=r"model is required"):
        Policy.from_mapping({})
    broken = _write(tmp_path, "model = \n")
    with pytest.raises(ValidationError, match=r"is not valid TOML"):
        Policy.from_toml(broken)
    with pytest.raises(ValidationError, match=r"cannot be read"):
        Policy.from_toml(tmp_path / "absent.toml")


def test_store_set_get_list_delete_are_audited(workspace: mc.Workspace, tmp_path: Path) -> None:
    store = PolicyStore(workspace.db)
    assert store.get("churn") is None and store.list() == []
    register_small_model(workspace, "churn")
    register_small_model(workspace, "aardvark")
    source_file(tmp_path, "data/churn.csv")
    first = Policy.from_toml(_write(tmp_path, EXAMPLE))
    store.set(first, actor="alice")
    second = Policy.from_mapping({"model": "churn", "monitoring": {"every": "1h"}})
    store.set(second, actor="bob")
    store.set(Policy.from_mapping({"model": "aardvark"}), actor="bob")
    assert store.get("churn") == second
    assert [p.model for p in store.list()] == ["aardvark", "churn"]
    assert store.info("churn").updated_by == "bob"
    events = list_events(workspace.db, target="churn", action="policy")
    assert [(e.actor, e.action) for e in events] == [("alice", "policy.set"), ("bob", "policy.set")]
    assert events[0].before is None and events[0].after == first.to_dict()
    assert events[1].before == first.to_dict() and events[1].after == second.to_dict()
    store.delete("churn", actor="carol")
    assert store.get("churn") is None
    deleted = list_events(workspace.db, action="policy.delete")[-1]
    assert (deleted.actor, deleted.target, deleted.before) == (
        "carol",
        "churn:policy",
        second.to_dict(),
    )
    with pytest.raises(NotFound, match="model 'churn' has no policy"):
        store.delete("churn")
    assert verify_audit(workspace.db).ok


def test_policy_cli_set_show_list_and_audit_verify(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    home = str(tmp_path / "ws")
    with mc.Workspace(home) as ws:
        register_small_model(ws, "churn")
    source_file(tmp_path, "data/churn.csv")
    path = _write(tmp_path, EXAMPLE)
    code, out, err = run_cli(capsys, "-w", home, "policy", "set", str(path))
    assert code == 0, err
    assert "churn" in out
    code, out, _ = run_cli(capsys, "-w", home, "policy", "show", "churn")
    assert code == 0 and 'every = "5m"' in out and "[[monitoring.alerts]]" in out
    shown = _write(tmp_path, out, "shown.toml")
    assert Policy.from_toml(shown) == Policy.from_toml(path)
    code, out, _ = run_cli(capsys, "-w", home, "policy", "show", "churn", "--json")
    assert code == 0 and '"window_rows": 5000' in out
    code, out, _ = run_cli(capsys, "-w", home, "policy", "list")
    assert code == 0 and "churn" in out and "5m" in out
    code, _, err = run_cli(capsys, "-w", home, "policy", "show", "nope")
    assert code == 3 and "model 'nope' has no policy" in err
    bad = _write(tmp_path, EXAMPLE.replace('every = "5m"', 'every = "5 minutes"'), "bad.toml")
    code, _, err = run_cli(capsys, "-w", home, "policy", "set", str(bad))
    assert code == 2 and "monitoring.every = '5 minutes'" in err
    code, out, _ = run_cli(capsys, "-w", home, "audit", "verify")
    assert code == 0 and "audit log verifies: 4 event(s)" in out  # with the placeholder model

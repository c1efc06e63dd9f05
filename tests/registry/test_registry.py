"""The registry on every backend: register, resolve, load, gates, rollback, archive, lineage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

import modelcycle as mc
from modelcycle.core import Conflict, IntegrityError, NotFound, ValidationError
from modelcycle.registry import (
    PromotionRefused,
    card_data,
    check_model_name,
    render_html,
    render_markdown,
)
from tests.models import Data, log_logistic, make_logistic


def _snapshot(ws: mc.Workspace) -> dict[str, list[tuple[object, ...]]]:
    tables = ("registered_models", "model_versions", "model_aliases", "alias_history")
    with ws.db.read() as connection:
        return {
            t: sorted(map(tuple, connection.execute(sa.text(f"SELECT * FROM {t}")))) for t in tables
        }


def test_register_resolve_and_load_round_trip(workspace: mc.Workspace, cancer: Data) -> None:
    run_id = log_logistic(workspace, cancer, 1.0)
    version = workspace.registry.register(run_id, name="cancer")
    assert (version.name, version.version, version.flavor, version.status) == (
        "cancer",
        1,
        "sklearn",
        "READY",
    )
    assert version.metrics["test_roc_auc"] > 0.95
    assert (
        version.train_dataset
        and version.test_dataset
        and version.train_dataset != version.test_dataset
    )
    assert version.package_versions["scikit-learn"]
    workspace.registry.promote("cancer", 1)
    for ref in ("cancer", "cancer@champion", "cancer/1"):
        assert workspace.registry.resolve(ref).version == 1
    loaded = workspace.registry.load("cancer@champion")
    expected = make_logistic(1.0).fit(cancer.x_train, cancer.y_train)
    assert np.array_equal(
        loaded.predict_proba(cancer.x_test), expected.predict_proba(cancer.x_test)
    )
    assert np.array_equal(
        loaded.predict(cancer.x_test.to_dict("records")), expected.predict(cancer.x_test)
    )


def test_bad_registrations_leave_the_registry_unchanged(
    workspace: mc.Workspace, cancer: Data
) -> None:
    with workspace.start_run() as bare:
        bare.log_metric("auc", 0.5)
    before = _snapshot(workspace)
    with pytest.raises(NotFound, match=r"has no model package at 'model'"):
        workspace.registry.register(bare, name="cancer")
    with pytest.raises(NotFound, match=r"does not exist"):
        workspace.registry.register("0" * 32, name="cancer")
    run_id = log_logistic(workspace, cancer, 1.0)
    with pytest.raises(ValidationError, match=r"model name '1bad'"):
        workspace.registry.register(run_id, name="1bad")
    sha = next(
        a["sha256"] for a in workspace.get_run(run_id).artifacts if a["path"] == "model/model.skops"
    )
    blob = Path(workspace.artifacts._blob_path(sha))
    blob.chmod(0o644)
    blob.write_bytes(b"tampered")
    with pytest.raises(IntegrityError, match=r"model/model\.skops"):
        workspace.registry.register(run_id, name="cancer")
    blob.unlink()
    with pytest.raises(IntegrityError, match=r"missing from the artifact store"):
        workspace.registry.register(run_id, name="cancer")
    assert _snapshot(workspace) == before


def test_tampered_package_refuses_to_load(workspace: mc.Workspace, cancer: Data) -> None:
    workspace.registry.register(log_logistic(workspace, cancer, 1.0), name="cancer")
    version = workspace.registry.resolve("cancer/1")
    manifest = workspace.artifacts.read_bytes(version.manifest_sha256)
    import json

    sha = json.loads(manifest)["files"]["model.skops"]["sha256"]
    blob = Path(workspace.artifacts._blob_path(sha))
    blob.chmod(0o644)
    data = blob.read_bytes()
    blob.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    with pytest.raises(IntegrityError, match=r"cancer/1:model.skops.*was modified"):
        workspace.registry.load("cancer/1")


def test_gates_refuse_force_overrides_and_rollback_restores(
    workspace: mc.Workspace, cancer: Data
) -> None:
    registry = workspace.registry
    strong = registry.register(log_logistic(workspace, cancer, 1.0), name="cancer")
    weak = registry.register(log_logistic(workspace, cancer, 1e-6), name="cancer")
    registry.set_gates(
        "cancer",
        {"min_metrics": {"test_roc_auc": 0.9}, "beat_champion": "test_roc_auc", "beat_by": 0.001},
    )
    registry.promote("cancer", strong.version)
    before = _snapshot(workspace)
    with pytest.raises(PromotionRefused) as refused:
        registry.promote("cancer", weak.version)
    assert any("does not beat champion version 1" in r for r in refused.value.reasons)
    assert _snapshot(workspace) == before
    registry.promote("cancer", weak.version, force=True)
    assert registry.resolve("cancer").version == weak.version
    history = registry.alias_history("cancer", "champion")
    assert [(e.action, e.from_version, e.to_version, e.forced) for e in history] == [
        ("promote", None, 1, False),
        ("promote", 1, 2, True),
    ]
    assert history[-1].reasons
    assert registry.rollback("cancer").version == strong.version
    assert registry.alias_history("cancer")[-1].action == "rollback"
    with pytest.raises(Conflict, match=r"no previous @challenger"):
        registry.rollback("cancer", "challenger")


def test_breaking_signature_change_needs_allow_breaking(
    workspace: mc.Workspace, cancer: Data
) -> None:
    registry = workspace.registry
    registry.register(log_logistic(workspace, cancer, 1.0), name="cancer")
    fewer = list(cancer.x_train.columns[:10])
    registry.register(log_logistic(workspace, cancer, 1.0, columns=fewer), name="cancer")
    registry.promote("cancer", 1)
    with pytest.raises(PromotionRefused, match=r"input column\(s\) .* were removed"):
        registry.promote("cancer", 2)
    registry.promote("cancer", 2, allow_breaking=True)
    assert registry.resolve("cancer").version == 2


def test_bad_promotions_and_archiving(workspace: mc.Workspace, cancer: Data) -> None:
    registry = workspace.registry
    registry.register(log_logistic(workspace, cancer, 1.0), name="cancer")
    registry.register(log_logistic(workspace, cancer, 0.5), name="cancer")
    registry.promote("cancer", 1)
    with pytest.raises(ValidationError, match=r"alias 'not a word' is not valid"):
        registry.promote("cancer", 2, "not a word")
    with pytest.raises(NotFound, match=r"has no version 9; its versions are 1..2"):
        registry.promote("cancer", 9)
    with pytest.raises(NotFound, match=r"model 'nope' is not registered"):
        registry.promote("nope", 1)
    with pytest.raises(Conflict, match=r"is @champion; move the alias"):
        registry.archive("cancer", 1)
    registry.archive("cancer", 2)
    with pytest.raises(Conflict, match=r"archived; promote another version or restore it"):
        registry.promote("cancer", 2, "challenger")
    with pytest.raises(Conflict, match=r"never served"):
        registry.load("cancer/2")
    with pytest.raises(NotFound, match=r"no alias @challenger"):
        registry.resolve("cancer@challenger")
    with pytest.raises(Conflict, match=r"is not archived"):
        registry.delete_version("cancer", 1)
    registry.delete_version("cancer", 2)  # archived and never aliased: may go
    registry.restore("cancer", 1)
    assert [v.version for v in registry.versions("cancer")] == [1]


def test_lineage_and_card(workspace: mc.Workspace, cancer: Data) -> None:
    version = workspace.registry.register(log_logistic(workspace, cancer, 1.0), name="cancer")
    workspace.registry.promote("cancer", version.version)
    lineage = workspace.registry.lineage("cancer")
    assert lineage["run"]["run_id"] == version.run_id
    assert {d["role"] for d in lineage["run"]["datasets"]} == {"train", "test"}
    trained = workspace.registry.versions_trained_on(version.train_dataset or "")
    assert [(v.name, v.version) for v in trained] == [("cancer", 1)]
    workspace.registry.describe("cancer", "Screening aid; not a diagnosis.")
    data = card_data(workspace.registry, "cancer")
    markdown = render_markdown(data)
    assert "Screening aid; not a diagnosis." in markdown
    assert "| test_roc_auc |" in markdown and "| mean radius | double |" in markdown
    page = render_html(data)
    assert (
        page.lower().startswith("<!doctype html>") and "<table>" in page and "<script" not in page
    )


@pytest.mark.parametrize("name", ["churn", "a", "risk.v2_b-3", "x" * 100])
def test_model_names_are_one_word(name: str) -> None:
    assert check_model_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "1bad", "churn\n", "a b", "../x", "churn@champion", "x" * 101]
)
def test_model_names_that_are_not_one_word_are_refused(name: str) -> None:
    """``fullmatch``: a trailing newline (which ``$`` lets ``match`` accept) is refused too."""
    with pytest.raises(ValidationError, match=r"model name .* is not valid"):
        check_model_name(name)

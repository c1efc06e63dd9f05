"""Issue 11: a crafted model file logged by a run and registered is refused by
``registry.load`` before its payload runs, even when its manifest claims trust."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import modelcycle as mc
from modelcycle.core import IntegrityError, NotFound, PermissionDenied
from modelcycle.registry import ModelVersion
from tests.crafted_skops import PAYLOADS, PLACES, Payload, Target, craft_package


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[mc.Workspace]:
    workspace = mc.Workspace(tmp_path_factory.mktemp("crafted") / "ws")
    yield workspace
    workspace.close()


def model_name(payload: Payload, place: str, *, trusted: bool = False) -> str:
    """A registered-model name for one crafted file."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", payload.name).strip("-")
    return f"crafted-{slug}-{place}{'-trusted' if trusted else ''}"


def register_crafted(
    ws: mc.Workspace, folder: Path, payload: Payload, place: str, *, trusted: bool = False
) -> tuple[ModelVersion, Target]:
    """Log a crafted package as a run's model artifacts and register it."""
    target = Target.prepare(folder)
    package = craft_package(folder / "package", payload, place, target, trusted=trusted)
    name = model_name(payload, place, trusted=trusted)
    with ws.start_run(experiment="crafted", name=name) as run:
        run.log_artifact(package, "model")
    return ws.registry.register(run, name=name, trusted=trusted), target


@pytest.mark.parametrize(
    ("payload", "place"),
    [(p, place) for p in PAYLOADS for place in PLACES],
    ids=[f"{p.name}-{place}" for p in PAYLOADS for place in PLACES],
)
def test_registry_load_refuses_a_crafted_version_before_its_payload_runs(
    ws: mc.Workspace, payload: Payload, place: str, tmp_path: Path
) -> None:
    version, target = register_crafted(ws, tmp_path, payload, place)
    assert not version.trusted
    with pytest.raises(IntegrityError, match=r"outside the allow-list") as error:
        ws.registry.load(version.ref)
    for name in payload.abused:
        assert name in error.value.message
    assert not target.marker.exists()


def test_a_package_forged_as_trusted_is_not_registered_without_trust(
    ws: mc.Workspace, tmp_path: Path
) -> None:
    """Trust comes from whoever registers, never from a manifest a run's author wrote."""
    target = Target.prepare(tmp_path)
    package = craft_package(tmp_path / "package", PAYLOADS[0], "pipeline", target, trusted=True)
    with ws.start_run(experiment="crafted", name="forged") as run:
        run.log_artifact(package, "model")
    with pytest.raises(PermissionDenied, match=r"logged a trusted package .* trusted=True"):
        ws.registry.register(run, name="forged")
    with pytest.raises(NotFound):
        ws.registry.resolve("forged")


@pytest.mark.parametrize("payload", PAYLOADS, ids=[p.name for p in PAYLOADS])
def test_a_version_registered_as_trusted_still_refuses_the_interpreter(
    ws: mc.Workspace, payload: Payload, tmp_path: Path
) -> None:
    version, target = register_crafted(ws, tmp_path, payload, "pipeline", trusted=True)
    assert version.trusted  # recorded and audited as version.register.trusted
    with pytest.raises(IntegrityError, match=r"no trust admits|loaders outside"):
        ws.registry.load(version.ref)
    assert not target.marker.exists()

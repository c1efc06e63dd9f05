"""The Dockerfile and the manifests under deploy/ are valid and run real commands (issue 16)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from typer._click.exceptions import UsageError  # Typer vendors its own click

from modelcycle.cli._app import build_command

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml"))
KUBERNETES_VERSION = "1.30.0"
#: Programs other than modelcycle a manifest may run (the Dask operator's containers).
OTHER_PROGRAMS = frozenset({"dask-scheduler", "dask-worker"})


def _documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in MANIFESTS:
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                found.append(
                    (f"{path.name}:{document['kind']}/{document['metadata']['name']}", document)
                )
    return found


DOCUMENTS = _documents()


def test_the_manifests_cover_the_deployment() -> None:
    kinds = sorted({document["kind"] for _, document in DOCUMENTS})
    assert kinds == [
        "ConfigMap", "DaskCluster", "Deployment", "HorizontalPodAutoscaler",
        "PodDisruptionBudget", "Secret", "Service",
    ]  # fmt: skip


@pytest.mark.parametrize(("name", "document"), DOCUMENTS, ids=[n for n, _ in DOCUMENTS])
def test_each_manifest_is_valid(name: str, document: dict[str, Any]) -> None:
    if document["apiVersion"] == "kubernetes.dask.org/v1":
        _check_dask_cluster(document)
        return
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def _check_dask_cluster(document: dict[str, Any]) -> None:
    """kubernetes-validate has no schema for the operator's CRD: check its structure here.

    Its pod specs are core PodSpecs, so they are validated as such inside a Pod.
    """
    spec = document["spec"]
    assert set(spec) == {"worker", "scheduler"}
    assert isinstance(spec["worker"]["replicas"], int) and spec["worker"]["replicas"] >= 1
    assert set(spec["scheduler"]) == {"spec", "service"}
    for part in (spec["worker"]["spec"], spec["scheduler"]["spec"]):
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "check"}, "spec": part}
        kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "check"},
        "spec": spec["scheduler"]["service"],
    }
    kubernetes_validate.validate(service, KUBERNETES_VERSION, strict=True)
    ports = {p["port"] for p in spec["scheduler"]["service"]["ports"]}
    assert 8786 in ports


def test_an_invalid_manifest_is_caught() -> None:
    """The validation can fail: a probe without a handler is refused."""
    server = next(d for _, d in DOCUMENTS if d["kind"] == "Deployment")
    broken = json.loads(json.dumps(server))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"] = {"periodSeconds": "x"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def _containers(document: dict[str, Any]) -> list[dict[str, Any]]:
    if document["kind"] == "Deployment":
        return list(document["spec"]["template"]["spec"]["containers"])
    if document["kind"] == "DaskCluster":
        spec = document["spec"]
        return [*spec["worker"]["spec"]["containers"], *spec["scheduler"]["spec"]["containers"]]
    return []


def _dockerfile_json(instruction: str) -> list[str]:
    text = (ROOT / "Dockerfile").read_text()
    found = re.search(rf"^{instruction} (\[.*\])$", text, re.MULTILINE)
    assert found, f"the Dockerfile has no exec-form {instruction}"
    return list(json.loads(found.group(1)))


def _command_lines() -> list[list[str]]:
    lines = [_dockerfile_json("ENTRYPOINT") + _dockerfile_json("CMD")]
    for _, document in DOCUMENTS:
        for container in _containers(document):
            lines.append(list(container.get("command", ["modelcycle"])) + container.get("args", []))
    return lines


def _parse(argv: list[str]) -> list[str]:
    """Parse ``modelcycle ARGV`` with the real command (nothing runs); return the command path."""
    command = build_command()
    context = command.make_context("modelcycle", list(argv))
    path = []
    while hasattr(command, "resolve_command"):  # a group: resolve its sub-command
        pending = [*context._protected_args, *context.args]  # where Typer's click keeps them
        name, sub, rest = command.resolve_command(context, pending)
        assert name is not None and sub is not None, f"{argv} names no modelcycle command"
        path.append(name)
        context = sub.make_context(name, rest, parent=context)
        command = sub
    return path


@pytest.mark.parametrize("line", _command_lines(), ids=lambda line: shlex.join(line))
def test_every_command_is_a_real_cli_command(line: list[str]) -> None:
    program, *argv = line
    if program in OTHER_PROGRAMS:
        return
    assert program == "modelcycle"
    assert _parse(argv) in (["serve"], ["worker"])


def test_a_wrong_option_is_caught() -> None:
    with pytest.raises(UsageError):
        _parse(["serve", "--no-such-option"])
    with pytest.raises(UsageError):
        _parse(["no-such-command"])
    with pytest.raises(UsageError):
        _parse(["worker", "--poll", "0"])  # below the option's range


def test_the_image_probes_the_health_route_and_runs_as_a_user() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.\d+-slim$", text, re.MULTILINE)
    assert re.search(r"^USER 10001$", text, re.MULTILINE)
    assert "HEALTHCHECK" in text and "/health/live" in text
    for _, document in DOCUMENTS:
        if document["kind"] == "Deployment" and document["metadata"]["name"].endswith("server"):
            container = _containers(document)[0]
            assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
            assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"

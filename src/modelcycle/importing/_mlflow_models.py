"""MLflow's registered models, versions and aliases, into the workspace's registry.

A version is registered here only when its model can be served safely: a LightGBM or
XGBoost model in its native format is re-saved as a modelcycle package (no code runs
when it is read). A pickled model (scikit-learn's default, LightGBM's scikit-learn
wrappers) or one saved with skops' full trust runs code when loaded, so it is imported
as its run's files only, and the summary says how to register it: pass
``trust_pickle=True`` (``--trust-pickle``) to load it, then it is re-saved in a safe
format where one accepts it (else as a ``trusted`` package, recorded as such).

modelcycle numbers versions itself, from 1; each imported version's description starts
with ``mlflow:<name>/<version>``, which is how a second import knows it is there, and
each MLflow alias points at the version its MLflow version became.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from modelcycle.core import (
    MODEL_NAME,
    ModelcycleError,
    NotFound,
    PermissionDenied,
    Task,
    ValidationError,
)
from modelcycle.importing._mlflow import _pages, run_folder_of
from modelcycle.importing._summary import ImportSummary
from modelcycle.packaging import InputSpec, Signature
from modelcycle.registry import Registry
from modelcycle.tracking import Tracker

#: Where a re-saved package goes in its run's artifacts.
PACKAGES = "mlflow-registered"
#: MLflow's column type -> modelcycle's input type.
_TYPES = {
    "double": "double",
    "float": "double",
    "long": "long",
    "integer": "long",
    "boolean": "boolean",
    "string": "string",
    "datetime": "datetime",
}


class NeedsTrust(PermissionDenied):
    """A model that runs code when loaded, and the user did not say they trust it."""

    code = "needs_trust"


def marker(name: str, version: str | int) -> str:
    """The first line of an imported version's description."""
    return f"mlflow:{name}/{version}"


def import_registered_models(
    tracker: Tracker,
    registry: Registry,
    client: Any,
    summary: ImportSummary,
    *,
    trust_pickle: bool,
    actor: str | None,
) -> None:
    """Import every registered model of ``client``'s store (see the module docstring)."""
    try:
        models = list(_pages(lambda token: client.search_registered_models(page_token=token)))
    except Exception as error:  # a store without a model registry
        summary.skip("registered models", f"{type(error).__name__}: {str(error)[:200]}")
        return
    for model in models:
        problem = MODEL_NAME.problem(model.name)
        if problem is not None:
            summary.skip(
                f"registered model {model.name[:100]!r}", f"not a valid name here: {problem}"
            )
            continue
        versions = _import_versions(
            tracker, registry, client, model.name, summary, trust_pickle, actor
        )
        _import_aliases(registry, model, versions, summary, actor)


def _import_versions(
    tracker: Tracker,
    registry: Registry,
    client: Any,
    name: str,
    summary: ImportSummary,
    trust_pickle: bool,
    actor: str | None,
) -> dict[str, int]:
    """Register each MLflow version; ``{MLflow version: modelcycle version}``."""
    try:
        known = {
            (v.description or "").split("\n", 1)[0]: v.version for v in registry.versions(name)
        }
    except NotFound:
        known = {}
    found = client.search_model_versions(f"name = '{name}'")
    mapping: dict[str, int] = {}
    for version in sorted(found, key=lambda v: int(v.version)):
        label = marker(name, version.version)
        if label in known:
            mapping[str(version.version)] = known[label]
            summary.already["model versions"] += 1
            continue
        try:
            registered = _register(tracker, registry, version, trust_pickle, actor)
        except ModelcycleError as error:
            summary.skip(f"model {name!r} version {version.version}", error.message)
            continue
        mapping[str(version.version)] = registered
        summary.imported["model versions"] += 1
    return mapping


def _import_aliases(
    registry: Registry,
    model: Any,
    versions: dict[str, int],
    summary: ImportSummary,
    actor: str | None,
) -> None:
    for alias, mlflow_version in sorted((model.aliases or {}).items()):
        target = versions.get(str(mlflow_version))
        if target is None:
            summary.skip(
                f"alias {model.name}@{alias}",
                f"its version {mlflow_version} is not registered here (see above)",
            )
            continue
        try:
            if registry.resolve(f"{model.name}@{alias}").version == target:
                summary.already["aliases"] += 1
                continue
        except ModelcycleError:
            pass  # not set yet
        try:
            registry.promote(model.name, target, alias, force=True, actor=actor)
        except ModelcycleError as error:
            summary.skip(f"alias {model.name}@{alias}", error.message)
            continue
        summary.imported["aliases"] += 1


def _register(
    tracker: Tracker, registry: Registry, version: Any, trust_pickle: bool, actor: str | None
) -> int:
    run_id = version.run_id
    if not run_id or not tracker.store.run_rows([run_id]):
        raise NotFound(f"its run {run_id!r} is not in the workspace (not imported)")
    folder = run_folder_of(version.source or "", run_id)
    if folder is None and getattr(version, "model_id", None):
        folder = f"models/{version.model_id}"
    if folder is None:
        raise NotFound(f"its files ({version.source!r}) are not among its run's artifacts")
    with tempfile.TemporaryDirectory(prefix="modelcycle-import-") as work:
        local = _fetch(tracker, run_id, folder, Path(work) / "mlflow")
        model = _loaded(local, trust_pickle)
        package = Path(work) / "package"
        _save(model, package, _signature(local, model), trusted=trust_pickle)
        artifact = f"{PACKAGES}/{version.name}/{version.version}"
        tracker.log_artifact(run_id, package, artifact)
    description = marker(version.name, version.version)
    if version.description:
        description += "\n" + str(version.description)
    registered = registry.register(
        run_id, version.name, artifact=artifact, description=description, actor=actor
    )
    return registered.version


def _fetch(tracker: Tracker, run_id: str, folder: str, target: Path) -> Path:
    """Copy the run's artifacts under ``folder`` into ``target`` (each verified)."""
    prefix = folder.rstrip("/") + "/"
    rows = [row for row in tracker.store.artifacts_of(run_id) if row["path"].startswith(prefix)]
    if not rows:
        raise NotFound(f"its run {run_id} has no artifacts under {folder!r}")
    for row in rows:
        tracker.download_artifact(run_id, row["path"], target / row["path"][len(prefix) :])
    return target


def _loaded(local: Path, trust_pickle: bool) -> Any:
    """The model in an MLflow model folder, loaded without running its code if possible."""
    from mlflow.models import Model

    flavors = Model.load(str(local / "MLmodel")).flavors
    native = _native(local, flavors)
    if native is not None:
        return native
    loader = next((f for f in ("sklearn", "lightgbm", "xgboost") if f in flavors), None)
    if loader is None:
        raise ValidationError(
            f"its flavors ({', '.join(sorted(flavors))}) hold no model modelcycle can re-save "
            "(LightGBM, XGBoost or scikit-learn); imported as files only"
        )
    if not trust_pickle:
        fmt = flavors[loader].get("serialization_format", "pickle")
        raise NeedsTrust(
            f"its {loader} model is saved with {fmt}, which runs code when loaded; imported "
            "as files only. Import again with --trust-pickle if you trust its source: it is "
            "then loaded and re-saved in a safe format"
        )
    import importlib

    flavor_module = importlib.import_module(f"mlflow.{loader}")
    return flavor_module.load_model(str(local))


def _native(local: Path, flavors: dict[str, Any]) -> Any:
    """A LightGBM or XGBoost booster from its own text or JSON format (no code runs)."""
    data = str((flavors.get("lightgbm") or {}).get("data") or "")
    if data.endswith((".lgb", ".txt")):
        import lightgbm as lgb

        return lgb.Booster(model_file=str(local / data))
    data = str((flavors.get("xgboost") or {}).get("data") or "")
    if data.endswith((".json", ".ubj", ".xgb")):
        import xgboost as xgb

        booster = xgb.Booster()
        booster.load_model(str(local / data))
        return booster
    return None


def _signature(local: Path, model: Any) -> Signature:
    """The model's signature: inputs from MLflow's (else its feature names, as numbers),
    task and classes from the model itself."""
    from mlflow.models import Model

    inputs = getattr(Model.load(str(local / "MLmodel")).signature, "inputs", None)
    if inputs is not None and getattr(inputs, "has_input_names", lambda: False)():
        specs = [InputSpec(str(c.name), _TYPES.get(c.type.name, "string")) for c in inputs.inputs]
    else:
        specs = [InputSpec(name, "double") for name in _feature_names(model)]
    if not specs:
        raise ValidationError(
            "its MLflow model has no signature with column names, so its inputs are unknown; "
            "log it with a signature (or an input example) in MLflow and import again"
        )
    task, classes = _task(model)
    return Signature(inputs=tuple(specs), task=task, classes=classes)


def _task(model: Any) -> tuple[Task, tuple[Any, ...] | None]:
    labels = getattr(model, "classes_", None)
    if labels is not None:
        classes = tuple(np.asarray(labels).tolist())
        return (Task.BINARY if len(classes) == 2 else Task.MULTICLASS), classes
    objective = _objective(model)
    if objective.startswith(("binary", "cross_entropy", "xentropy")):
        return Task.BINARY, (0, 1)
    if objective.startswith(("multiclass", "softmax", "multi:")):
        count = int(_booster_params(model).get("num_class") or 0)
        return Task.MULTICLASS, tuple(range(count)) if count else None
    return Task.REGRESSION, None


def _objective(model: Any) -> str:
    params = _booster_params(model)
    if params.get("objective"):
        return str(params["objective"])
    if hasattr(model, "model_to_string"):  # LightGBM writes it in the model's text
        for line in model.model_to_string().splitlines()[:20]:
            if line.startswith("objective="):
                return str(line.split("=", 1)[1].split(" ")[0])
    if hasattr(model, "save_config"):  # XGBoost: its learner's configuration
        learner = json.loads(model.save_config()).get("learner", {})
        return str(learner.get("objective", {}).get("name", ""))
    return ""


def _booster_params(model: Any) -> dict[str, Any]:
    params = getattr(model, "params", None)
    return params if isinstance(params, dict) else {}


def _feature_names(model: Any) -> list[str]:
    for attribute in ("feature_names_in_", "feature_name_", "feature_names"):
        names = getattr(model, attribute, None)
        if names is not None and len(names):
            return [str(name) for name in names]
    if hasattr(model, "feature_name"):
        return [str(name) for name in model.feature_name()]
    return []


def _save(model: Any, package: Path, signature: Signature, *, trusted: bool) -> None:
    from modelcycle.packaging import save_model

    try:
        save_model(model, package, signature=signature)
    except ModelcycleError as error:
        if not trusted:
            raise
        for leftover in sorted(package.rglob("*"), reverse=True) if package.exists() else ():
            leftover.unlink() if leftover.is_file() else leftover.rmdir()
        try:
            save_model(model, package, signature=signature, flavor="trusted", trusted=True)
        except ModelcycleError:
            raise error from None

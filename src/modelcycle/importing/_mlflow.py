"""Copy an MLflow store (SQLite, another database, a file store, or an MLflow server)
into a workspace, idempotently.

MLflow's own client (``mlflow-skinny``) reads the store, so every store MLflow can open
can be read, and nothing of it is written. Experiments keep their names (MLflow's
``Default`` becomes ``default``; a name modelcycle does not allow has each other
character replaced by ``_``); runs keep their ids, names, status, times, user, source,
git commit and parent; params, tags and every metric value (with its step and time) are
copied; the run's artifacts, and the files of the models it logged, become its
artifacts. A run is imported whole or not at all: an imported run ends with the tag
:data:`IMPORTED_TAG`, and a run already in the workspace is never imported again.
Registered models are :mod:`modelcycle.importing._mlflow_models`'s.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from modelcycle.core import EXPERIMENT_NAME, ModelcycleError, ValidationError
from modelcycle.importing._summary import ImportSummary
from modelcycle.registry import Registry
from modelcycle.tracking import (
    DEFAULT_EXPERIMENT,
    MAX_BATCH_METRICS,
    MAX_BATCH_PARAMS,
    MAX_BATCH_TAGS,
    MLFLOW,
    MetricValue,
    Tracker,
)

#: The tag an imported run ends with: where it came from.
IMPORTED_TAG = "modelcycle.imported_from"
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_.: /-]")


def import_mlflow(
    tracker: Tracker,
    registry: Registry,
    tracking_uri: str,
    *,
    trust_pickle: bool = False,
    actor: str | None = None,
) -> ImportSummary:
    """Import the MLflow store at ``tracking_uri`` into the workspace of ``tracker``.

    ``trust_pickle=True`` lets pickled models be loaded (running their code) to be
    re-saved as servable versions; without it they are imported as files only.

    Raises
    ------
    ValidationError
        MLflow's client is not installed, or cannot open ``tracking_uri``.
    """
    summary = ImportSummary(source=tracking_uri)
    with _file_store_allowed():
        client = _client(tracking_uri)
        experiments = _experiments(client)
        for experiment in experiments:
            _import_experiment(tracker, client, experiment, summary, actor)
        from modelcycle.importing._mlflow_models import import_registered_models

        import_registered_models(
            tracker, registry, client, summary, trust_pickle=trust_pickle, actor=actor
        )
    return summary


def _client(tracking_uri: str) -> Any:
    _check_exists(tracking_uri)
    try:
        from mlflow import MlflowClient
    except ImportError:
        raise ValidationError(
            "importing from MLflow needs MLflow's client: pip install mlflow-skinny"
        ) from None
    try:
        return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    except Exception as error:  # MLflow's own: an unknown scheme, a store it cannot open
        raise ValidationError(
            f"MLflow's client cannot open {tracking_uri!r}: {type(error).__name__}: "
            f"{str(error)[:300]}"
        ) from None


def _check_exists(tracking_uri: str) -> None:
    """Refuse a local store that is not there (MLflow's client would create an empty one)."""
    scheme, _, rest = tracking_uri.partition(":")
    if scheme == "sqlite":  # sqlite:///relative.db, sqlite:////absolute.db
        local = Path(rest[3:].partition("?")[0]) if rest.startswith("///") else Path("")
    elif "://" not in tracking_uri or scheme == "file":
        local = Path(tracking_uri.removeprefix("file://"))
    else:
        return
    if not str(local) or str(local) == "." or not local.exists():
        raise ValidationError(
            f"no MLflow store at {tracking_uri!r} ({str(local)!r} does not exist); expected an "
            "existing 'sqlite:///path/mlflow.db' or 'mlruns' folder"
        )


@contextlib.contextmanager
def _file_store_allowed() -> Iterator[None]:
    """Let MLflow's client read a file store (MLflow 3 refuses to open one otherwise)."""
    name = "MLFLOW_ALLOW_FILE_STORE"
    before = os.environ.get(name)
    os.environ[name] = "true"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def _experiments(client: Any) -> list[Any]:
    try:
        return list(_pages(lambda token: client.search_experiments(page_token=token)))
    except ModelcycleError:
        raise
    except Exception as error:  # MLflow's own errors: a missing store, an old schema...
        raise ValidationError(
            f"MLflow's client could not read the store: {type(error).__name__}: {str(error)[:500]}"
        ) from None


def _pages(fetch: Any) -> Iterator[Any]:
    token = None
    while True:
        page = fetch(token)
        yield from page
        token = getattr(page, "token", None)
        if not token:
            return


def experiment_name(name: str, experiment_id: str) -> str:
    """The workspace's name for an MLflow experiment."""
    if experiment_id == MLFLOW.default_experiment_id or name == MLFLOW.default_experiment_name:
        return DEFAULT_EXPERIMENT
    if EXPERIMENT_NAME.problem(name) is None:
        return name
    cleaned = _NOT_ALLOWED.sub("_", name).strip(" /") or f"mlflow-{experiment_id}"
    cleaned = "/".join(part if part not in ("", ".", "..") else "_" for part in cleaned.split("/"))
    return cleaned[:250]


def _import_experiment(
    tracker: Tracker, client: Any, experiment: Any, summary: ImportSummary, actor: str | None
) -> None:
    name = experiment_name(experiment.name, experiment.experiment_id)
    if name != experiment.name and name != DEFAULT_EXPERIMENT:
        summary.skip(
            f"experiment name {experiment.name!r}", f"not allowed here; imported as {name!r}"
        )
    known = {row["name"] for row in tracker.store.list_experiments()}
    tracker.store.get_or_create_experiment(name)
    (summary.already if name in known else summary.imported)["experiments"] += 1
    runs = list(
        _pages(
            lambda token: client.search_runs(
                [experiment.experiment_id], max_results=1000, page_token=token
            )
        )
    )
    parents_first = sorted(
        runs, key=lambda run: (MLFLOW.parent_tag in run.data.tags, run.info.start_time or 0)
    )
    models = _logged_models(client, experiment.experiment_id)
    for run in parents_first:
        _import_run(tracker, client, run, name, models.get(run.info.run_id, []), summary, actor)


def _logged_models(client: Any, experiment_id: str) -> dict[str, list[Any]]:
    """MLflow 3's logged models of an experiment, by the run that made them."""
    search = getattr(client, "search_logged_models", None)
    found: dict[str, list[Any]] = {}
    if search is None:
        return found
    try:
        for model in _pages(lambda token: search(experiment_ids=[experiment_id], page_token=token)):
            found.setdefault(model.source_run_id, []).append(model)
    except Exception:  # a store without logged models (MLflow 2)
        return {}
    return found


def _import_run(
    tracker: Tracker,
    client: Any,
    run: Any,
    experiment: str,
    models: list[Any],
    summary: ImportSummary,
    actor: str | None,
) -> None:
    run_id = run.info.run_id
    if tracker.store.run_rows([run_id]):
        tags = tracker.store.logged([run_id]).tags[run_id]
        if tags.get(IMPORTED_TAG):
            summary.already["runs"] += 1
        else:
            summary.skip(f"run {run_id}", "a run with this id is already in the workspace")
        return
    try:
        _copy_run(tracker, client, run, experiment, models, summary, actor)
    except ModelcycleError as error:
        summary.skip(f"run {run_id}", error.message)
        return
    summary.imported["runs"] += 1


def _copy_run(
    tracker: Tracker,
    client: Any,
    run: Any,
    experiment: str,
    models: list[Any],
    summary: ImportSummary,
    actor: str | None,
) -> None:
    info, tags = run.info, dict(run.data.tags)
    parent = tags.get(MLFLOW.parent_tag)
    if parent and not tracker.store.run_rows([parent]):
        summary.skip(f"parent of run {info.run_id}", f"run {parent} is not in the workspace")
        parent = None
    recorder = tracker.recorder
    recorder.record_run(
        experiment,
        run_id=info.run_id,
        name=info.run_name or tags.get(MLFLOW.run_name_tag) or None,
        status=MLFLOW.status(info.status),
        start_time=info.start_time,
        end_time=info.end_time,
        user=info.user_id or tags.get(MLFLOW.user_tag) or None,
        source=tags.get(MLFLOW.source_tag),
        git_commit=tags.get(MLFLOW.git_commit_tag),
        parent_run_id=parent,
        actor=actor,
    )
    _copy_values(tracker, info.run_id, "param", dict(run.data.params), summary)
    _copy_metrics(tracker, client, info.run_id, list(run.data.metrics), summary)
    _copy_artifacts(tracker, client, info.run_id, summary)
    _copy_logged_models(tracker, run.info.run_id, models, summary)
    _copy_values(tracker, info.run_id, "tag", {**tags, IMPORTED_TAG: "mlflow"}, summary)


def _copy_values(
    tracker: Tracker, run_id: str, kind: str, values: dict[str, str], summary: ImportSummary
) -> None:
    size = MAX_BATCH_PARAMS if kind == "param" else MAX_BATCH_TAGS
    items = list(values.items())

    def write(chunk: dict[str, str]) -> None:
        if kind == "param":
            tracker.recorder.log_batch(run_id, params=chunk)
        else:
            tracker.recorder.log_batch(run_id, tags=chunk)

    for start in range(0, len(items), size):
        chunk = dict(items[start : start + size])
        try:
            write(chunk)
        except ValidationError:
            for key, value in chunk.items():  # one by one, to leave out only the bad ones
                try:
                    write({key: value})
                except ValidationError as error:
                    summary.skip(f"{kind} {key[:80]!r} of run {run_id}", error.message)
                    continue
                summary.imported[f"{kind}s"] += 1
            continue
        summary.imported[f"{kind}s"] += len(chunk)


def _copy_metrics(
    tracker: Tracker, client: Any, run_id: str, keys: list[str], summary: ImportSummary
) -> None:
    for key in keys:
        history = client.get_metric_history(run_id, key)
        values = [MetricValue(key, m.value, m.step, m.timestamp) for m in history]
        finite = [v for v in values if v.value == v.value and abs(v.value) != float("inf")]
        if len(finite) < len(values):
            summary.skip(
                f"metric {key[:80]!r} of run {run_id}",
                f"{len(values) - len(finite)} values are NaN or infinite (not stored)",
            )
        for start in range(0, len(finite), MAX_BATCH_METRICS):
            chunk = finite[start : start + MAX_BATCH_METRICS]
            try:
                tracker.recorder.log_batch(run_id, metrics=chunk)
            except ValidationError as error:
                summary.skip(f"metric {key[:80]!r} of run {run_id}", error.message)
                break
            summary.imported["metric values"] += len(chunk)


def _copy_artifacts(tracker: Tracker, client: Any, run_id: str, summary: ImportSummary) -> None:
    try:
        listed = client.list_artifacts(run_id)
    except Exception as error:  # an artifact store the client cannot reach
        summary.skip(f"artifacts of run {run_id}", f"{type(error).__name__}: {str(error)[:200]}")
        return
    if not listed:
        return
    with tempfile.TemporaryDirectory(prefix="modelcycle-import-") as folder:
        local = Path(client.download_artifacts(run_id, "", folder))
        store_files(tracker, run_id, local, "", summary)


def store_files(
    tracker: Tracker, run_id: str, folder: Path, prefix: str, summary: ImportSummary
) -> None:
    """Store every file under ``folder`` as an artifact of ``run_id`` under ``prefix``."""
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = prefix + file.relative_to(folder).as_posix()
        try:
            tracker.log_artifact(run_id, file, name)
        except ModelcycleError as error:
            summary.skip(f"artifact {name[:120]!r} of run {run_id}", error.message)
            continue
        summary.imported["artifacts"] += 1


def _copy_logged_models(
    tracker: Tracker, run_id: str, models: list[Any], summary: ImportSummary
) -> None:
    """MLflow 3 keeps a run's models apart from its artifacts: copy them under
    ``models/<model id>/`` (where the MLflow API of ``modelcycle serve`` puts them)."""
    import mlflow.artifacts

    for model in models:
        with tempfile.TemporaryDirectory(prefix="modelcycle-import-") as folder:
            try:
                local = mlflow.artifacts.download_artifacts(
                    artifact_uri=model.artifact_location,
                    dst_path=folder,
                    tracking_uri=summary.source,
                )
            except Exception as error:  # an artifact store the client cannot reach
                summary.skip(f"logged model {model.model_id}", f"{type(error).__name__}: {error}")
                continue
            store_files(tracker, run_id, Path(local), f"models/{model.model_id}/", summary)


def run_folder_of(source: str, run_id: str) -> str | None:
    """The run artifact folder a model version's ``source`` names (``None``: not a run's)."""
    if source.startswith("models:/m-"):
        return f"models/{source.removeprefix('models:/').strip('/')}"
    if source.startswith(f"runs:/{run_id}/"):
        return source.removeprefix(f"runs:/{run_id}/").strip("/")
    marker = f"/{run_id}/artifacts/"
    if marker in source:
        return source.split(marker, 1)[1].strip("/")
    return None

"""MLflow's tracking calls, carried out on a modelcycle :class:`~modelcycle.tracking.Tracker`.

Every write is validated whole, then written in one transaction before the answer
(no buffering: the next read, from any worker, sees it). Each method returns the JSON
body MLflow's server would.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

from modelcycle.core import EXPERIMENT_NAME, Conflict, NotFound, ValidationError, now_ms
from modelcycle.data import DatasetFingerprint
from modelcycle.serving._mlflow import _schemas as api
from modelcycle.serving._mlflow._entities import (
    DEFAULT_ID,
    RUN_NAME,
    Experiments,
    default_experiment_row,
    experiment_json,
    key_values,
    metric_json,
    pairs,
    run_info_json,
    system_values,
)
from modelcycle.serving._mlflow._models import LoggedModels, logged_model_json
from modelcycle.tracking import DEFAULT_EXPERIMENT, MLFLOW, MetricValue, Tracker, check_run_id

_NAME_FILTER = re.compile(
    r"\s*(?:attributes?\.)?name\s*(=|!=|like|ilike)\s*'((?:[^'\\]|\\.)*)'\s*", re.IGNORECASE
)


class AlreadyExists(Conflict):
    """An experiment of that name exists (MLflow's ``RESOURCE_ALREADY_EXISTS``)."""

    code = "already_exists"


class MlflowTracking:
    """The MLflow tracking API's operations on one workspace's tracker.

    Thread-safety: share freely (every call reads or writes through the tracker's store).
    """

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker
        self.store = tracker.store
        self.recorder = tracker.recorder
        self.models = LoggedModels(tracker)

    # -- experiments -----------------------------------------------------------------

    def experiments(self) -> Experiments:
        return Experiments(self.store.list_experiments())

    def create_experiment(self, body: api.CreateExperiment) -> dict[str, Any]:
        if body.name in self.experiments().by_name:
            raise AlreadyExists(f"experiment {body.name!r} already exists")
        EXPERIMENT_NAME.check(body.name)
        self.store.get_or_create_experiment(body.name)
        return {"experiment_id": self.experiments().mlflow_id(body.name)}

    def get_experiment(self, experiment_id: str) -> dict[str, Any]:
        experiments = self.experiments()
        name = experiments.name_of(experiment_id)
        row = experiments.by_name.get(name)
        if row is None:  # the default experiment, before its first run
            row = default_experiment_row(now_ms())
        return {"experiment": experiment_json(row, experiments.mlflow_id(name))}

    def get_experiment_by_name(self, name: str) -> dict[str, Any]:
        experiments = self.experiments()
        row = experiments.by_name.get(name)
        if row is None:
            raise NotFound(f"no experiment is named {name[:250]!r}")
        return {"experiment": experiment_json(row, experiments.mlflow_id(name))}

    def search_experiments(self, body: api.SearchExperiments) -> dict[str, Any]:
        experiments = self.experiments()
        rows = [row for row in experiments.rows if _name_matches(row["name"], body.filter)]
        if body.order_by:
            rows = _ordered_experiments(rows, body.order_by)
        page, token = _page(rows, body.page_token, body.max_results)
        found = [experiment_json(row, experiments.mlflow_id(row["name"])) for row in page]
        return _with_token({"experiments": found}, token)

    # -- runs ------------------------------------------------------------------------

    def create_run(self, body: api.CreateRun, actor: str | None) -> dict[str, Any]:
        tags = pairs(body.tags, "tags")
        system = system_values(tags)
        experiment = self.experiments().name_of(body.experiment_id or DEFAULT_ID)
        run_id = self.recorder.record_run(
            experiment,
            name=body.run_name or system["name"],
            start_time=body.start_time,
            user=body.user_id or system["user"],
            source=system["source"],
            git_commit=system["git_commit"],
            parent_run_id=system["parent_run_id"],
            actor=actor,
        )
        if tags:
            self.recorder.log_batch(run_id, tags=tags)
        return {"run": self.run_json(run_id)}

    def update_run(self, body: api.UpdateRun) -> dict[str, Any]:
        run_id = _run_id(body.run_id or body.run_uuid)
        status = MLFLOW.status(body.status) if body.status else None
        self.recorder.update_run(run_id, status=status, end_time=body.end_time, name=body.run_name)
        if body.run_name:
            self.recorder.log_batch(run_id, tags={RUN_NAME: body.run_name})
        row = self.store.get_run_row(run_id)
        return {"run_info": run_info_json(row, self._experiment_id(row))}

    def get_run(self, run_id: str | None) -> dict[str, Any]:
        return {"run": self.run_json(_run_id(run_id))}

    def search_runs(self, body: api.SearchRuns) -> dict[str, Any]:
        experiments = self.experiments()
        names = [experiments.name_of(str(i)) for i in body.experiment_ids]
        offset = _offset(body.page_token)
        rows, _ = self.store.search(
            experiments=names,
            filter=body.filter,
            order_by=body.order_by or None,
            limit=offset + body.max_results + 1,
        )
        page = rows[offset : offset + body.max_results]
        more = len(rows) > offset + body.max_results
        runs = self.runs_json([row["run_id"] for row in page], experiments)
        return _with_token({"runs": runs}, _token(offset + body.max_results) if more else None)

    def log_metric(self, body: api.LogMetric) -> dict[str, Any]:
        run_id = _run_id(body.run_id or body.run_uuid)
        self.log_batch(api.LogBatch(run_id=run_id, metrics=[body]))
        return {}

    def log_param(self, body: api.LogParam) -> dict[str, Any]:
        run_id = _run_id(body.run_id or body.run_uuid)
        self.recorder.log_batch(run_id, params={body.key: body.value})
        return {}

    def set_tag(self, body: api.SetTag) -> dict[str, Any]:
        run_id = _run_id(body.run_id or body.run_uuid)
        self.recorder.log_batch(run_id, tags={body.key: body.value})
        if body.key == RUN_NAME:
            self.recorder.update_run(run_id, name=body.value)
        return {}

    def log_batch(self, body: api.LogBatch) -> dict[str, Any]:
        run_id = _run_id(body.run_id)
        metrics = self._new_metrics(run_id, body.metrics)
        self.recorder.log_batch(
            run_id,
            metrics=[MetricValue(m.key, m.value, m.step, m.timestamp) for m in metrics],
            params=pairs(body.params, "params"),
            tags=pairs(body.tags, "tags"),
        )
        return {}

    def metric_history(
        self, run_id: str | None, key: str, max_results: int, page_token: str | None
    ) -> dict[str, Any]:
        run_id = _run_id(run_id)
        self.store.get_run_row(run_id)  # NotFound
        history = self.store.metric_history(run_id, key)
        page, token = _page(history, page_token, max_results)
        metrics = [metric_json(key, value, step, ts) for step, value, ts in page]
        return _with_token({"metrics": metrics}, token)

    def log_inputs(self, body: api.LogInputs) -> dict[str, Any]:
        run_id = _run_id(body.run_id)
        self.store.get_run_row(run_id)  # NotFound
        for item in body.datasets:
            tags = pairs(item.tags, "tags")
            role = tags.get(MLFLOW.dataset_context_tag) or "input"
            self.store.link_dataset(
                run_id, _fingerprint(item.dataset), role[:32], item.dataset.name
            )
        return {}

    def log_outputs(self, body: api.LogOutputs) -> dict[str, Any]:
        run_id = _run_id(body.run_id)
        for output in body.models:
            if self.models.get(output.model_id)["source_run_id"] != run_id:
                raise ValidationError(
                    f"logged model {output.model_id!r} was made by another run; a run's "
                    "outputs are the models it made"
                )
        return {}

    # -- logged models ---------------------------------------------------------------

    def create_logged_model(self, body: api.CreateLoggedModel, actor: str | None) -> dict[str, Any]:
        self.experiments().name_of(body.experiment_id)  # NotFound
        run_id = _run_id(body.source_run_id) if body.source_run_id else None
        description = self.models.create(
            body.experiment_id,
            run_id,
            name=body.name,
            model_type=body.model_type,
            params=pairs(body.params, "params"),
            tags=pairs(body.tags, "tags"),
            creator=actor,
        )
        return {"model": logged_model_json(description)}

    def search_logged_models(self, body: api.SearchLoggedModels) -> dict[str, Any]:
        experiments = self.experiments()
        names = [experiments.name_of(str(i)) for i in body.experiment_ids]
        rows, _ = self.store.search(experiments=names, filter=None, order_by=None, limit=None)
        found = self.models.search([row["run_id"] for row in rows], body.filter)
        page, token = _page(found, body.page_token, body.max_results)
        return _with_token({"models": [logged_model_json(d) for d in page]}, token)

    def logged_model(self, model_id: str) -> dict[str, Any]:
        return {"model": logged_model_json(self.models.get(model_id))}

    def change_logged_model(self, model_id: str, **changes: Any) -> dict[str, Any]:
        return {"model": logged_model_json(self.models.change(model_id, **changes))}

    # -- building answers ------------------------------------------------------------

    def run_json(self, run_id: str) -> dict[str, Any]:
        found = self.runs_json([run_id], self.experiments())
        if not found:
            self.store.get_run_row(run_id)  # raises NotFound
        return found[0]

    def runs_json(self, run_ids: Sequence[str], experiments: Experiments) -> list[dict[str, Any]]:
        rows = self.store.run_rows(run_ids)
        ids = [row["run_id"] for row in rows]
        logged = self.store.logged(ids)
        latest = self.store.latest_metrics(ids)
        runs = []
        for row in rows:
            run_id = row["run_id"]
            metrics = [metric_json(*item) for item in latest[run_id]]
            runs.append(
                {
                    "info": run_info_json(row, experiments.mlflow_id(row["experiment"])),
                    "data": {
                        "metrics": metrics,
                        "params": key_values(logged.params[run_id]),
                        "tags": key_values(logged.tags[run_id]),
                    },
                    "inputs": {"dataset_inputs": self._inputs(run_id)},
                    "outputs": {
                        "model_outputs": [
                            {"model_id": model_id, "step": 0}
                            for model_id in self.models.of_run(run_id)
                        ]
                    },
                }
            )
        return runs

    def _inputs(self, run_id: str) -> list[dict[str, Any]]:
        return [
            {
                "tags": [{"key": MLFLOW.dataset_context_tag, "value": found["role"]}],
                "dataset": {
                    "name": found["name"] or "",
                    "digest": found["dataset_hash"][:8],
                    "source_type": "",
                    "source": "",
                    "schema": json.dumps(
                        {
                            "mlflow_colspec": [
                                {"name": name, "type": dtype}
                                for name, dtype in zip(
                                    found["columns"], found["dtypes"], strict=False
                                )
                            ]
                        }
                    ),
                    "profile": json.dumps({"num_rows": found["rows"]}),
                },
            }
            for found in self.store.datasets_of(run_id)
        ]

    def _experiment_id(self, row: dict[str, Any]) -> str:
        if row["experiment"] == DEFAULT_EXPERIMENT:
            return DEFAULT_ID
        return str(row["experiment_id"])

    def _new_metrics(self, run_id: str, metrics: list[api.MetricIn]) -> list[api.MetricIn]:
        """The metrics to store: one linked to a logged model is stored unless the run
        already holds that very value (autologging logs the run's metrics again that way)."""
        linked = {m.key for m in metrics if m.model_id}
        if not linked:
            return metrics
        known = {
            (key, step, value, ts)
            for key in linked
            for step, value, ts in self.store.metric_history(run_id, key)
        }
        return [
            m
            for m in metrics
            if not m.model_id or (m.key, m.step, m.value, m.timestamp) not in known
        ]


def _run_id(run_id: str | None) -> str:
    if not run_id:
        raise ValidationError("the request names no run; expected 'run_id'")
    return check_run_id(run_id)


def _fingerprint(dataset: api.Dataset) -> DatasetFingerprint:
    """A dataset MLflow describes, as a fingerprint (its hash: of MLflow's identity of it)."""
    identity = f"mlflow\0{dataset.name}\0{dataset.digest}\0{dataset.source or ''}"
    columns: list[str] = []
    dtypes: list[str] = []
    try:
        schema = json.loads(dataset.schema_ or "{}")
        for spec in schema.get("mlflow_colspec") or ():
            columns.append(str(spec.get("name", "")))
            dtypes.append(str(spec.get("type", "")))
        rows = int(json.loads(dataset.profile or "{}").get("num_rows") or 0)
    except (ValueError, TypeError, AttributeError):
        rows = 0
    return DatasetFingerprint(
        hash=hashlib.sha256(identity.encode()).hexdigest(),
        rows=rows,
        columns=tuple(columns),
        dtypes=tuple(dtypes),
    )


def _name_matches(name: str, text: str | None) -> bool:
    """Whether an experiment name passes a filter (MLflow's: comparisons of ``name``)."""
    if not text or not text.strip():
        return True
    match = _NAME_FILTER.fullmatch(text)
    if match is None:
        raise ValidationError(
            f"experiment filter {text[:200]!r} is not supported; expected a comparison of "
            "the name, e.g. \"name = 'churn'\" or \"name LIKE 'churn%'\""
        )
    op, value = match.group(1).lower(), match.group(2).replace("\\'", "'")
    if op in ("like", "ilike"):
        pattern = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in value)
        flags = re.IGNORECASE if op == "ilike" else 0
        return re.fullmatch(pattern, name, flags | re.DOTALL) is not None
    return (name == value) == (op == "=")


def _ordered_experiments(rows: list[dict[str, Any]], order_by: list[str]) -> list[dict[str, Any]]:
    for clause in reversed(order_by):
        field, _, direction = clause.strip().partition(" ")
        field = field.removeprefix("attributes.").removeprefix("attribute.")
        key = {"name": "name", "creation_time": "created_at", "experiment_id": "experiment_id"}
        if field not in key:
            raise ValidationError(
                f"order_by {clause[:100]!r} is not supported; expected name, creation_time "
                "or experiment_id, then ASC or DESC"
            )
        rows = sorted(
            rows, key=lambda row: row[key[field]], reverse=direction.strip().upper() == "DESC"
        )
    return rows


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeError):
        offset = None
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= 10**9:
        raise ValidationError(
            f"page_token {token[:60]!r} is not valid; expected the next_page_token of an "
            "earlier answer"
        )
    return offset


def _page(items: list[Any], token: str | None, size: int) -> tuple[list[Any], str | None]:
    offset = _offset(token)
    page = items[offset : offset + size]
    return page, _token(offset + size) if len(items) > offset + size else None


def _with_token(body: dict[str, Any], token: str | None) -> dict[str, Any]:
    if token is not None:
        body["next_page_token"] = token
    return body

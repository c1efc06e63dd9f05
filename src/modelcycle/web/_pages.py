"""The pages: runs, a run, compare, models, a model, a model in operation, retraining,
the audit log, users and keys. Each reads typed records and checks ``read`` (or
``manage``) first; actions live in :mod:`modelcycle.web._actions`."""

from __future__ import annotations

import json
from typing import Annotated, Any

import plotly.graph_objects as go
from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import HTMLResponse, Response

from modelcycle.core import NotFound, ValidationError
from modelcycle.lifecycle import PolicyStore
from modelcycle.monitoring import drift_history, read_predictions
from modelcycle.records import TrainingRecord
from modelcycle.registry import ARCHIVED, CHAMPION, card_data, render_html
from modelcycle.reports import chart_div, plain_chart_div, style_axes
from modelcycle.security import verify_audit
from modelcycle.services import Services
from modelcycle.store import read_alerts
from modelcycle.web._auth import Viewer, viewer
from modelcycle.web._queries import (
    MAX_COMPARE,
    PAGE_SIZES,
    RunsQuery,
    histories,
    history_keys,
    runs_page,
)
from modelcycle.web._render import PLOTLY_URL, SECURITY_HEADERS, page

router = APIRouter(include_in_schema=False)
#: Runs a chart of histories draws at most (the table below it has them all).
_CHARTED_RUNS = 50
#: Rows of the side-by-side table shown open; more runs follow in a folded part, which
#: the browser lays out only when opened (500 runs x 50 columns took a second to draw).
_TABLE_ROWS = 100
#: Runs whose names label the latest-values chart's axis; with more, the names show on
#: hover only (Plotly measured and placed 500 names for 0.4 s, unreadable at 1 px each).
_LABELLED_RUNS = 50


def services_of(request: Request) -> Services:
    """The workspace the dashboard shows."""
    services: Services = request.app.state.services
    return services


def current_viewer(request: Request) -> Viewer:
    """The signed-in viewer (a dependency of every page)."""
    return viewer(request, services_of(request).security)


Who = Annotated[Viewer, Depends(current_viewer)]


@router.get("/runs")
def runs(request: Request, who: Who) -> Response:
    """The runs table: filter, sort and page in SQL; columns chosen in the URL."""
    who.require("read")
    services = services_of(request)
    error = None
    try:
        query = RunsQuery.parse(dict(request.query_params))
        table = runs_page(services.tracker, query)
    except ValidationError as problem:
        error, query, table = str(problem), RunsQuery(), None
    experiments = services.tracker.experiment_names()
    return page(
        "runs.html.j2",
        {
            "viewer": who,
            "query": query,
            "table": table,
            "error": error,
            "experiments": experiments,
            "sizes": PAGE_SIZES,
            "max_compare": MAX_COMPARE,
        },
        status=400 if error else 200,
    )


@router.get("/runs/{run_id}")
def run(request: Request, who: Who, run_id: str) -> Response:
    """One run: params, metrics with their histories; a training run's leaderboard,
    evaluation and validation warnings."""
    who.require("read")
    services = services_of(request)
    found = services.tracker.get_run(services.tracker.resolve_run_id(run_id))
    record = TrainingRecord(found)
    training = record.is_training
    charts = _history_charts(services, [found.run_id], {found.run_id: found.name})
    return page(
        "run.html.j2",
        {
            "viewer": who,
            "run": found,
            "training": training,
            "leaderboard": record.leaderboard[:50] if training else [],
            "evaluation": record.evaluation if training else None,
            "validation": record.validation if training else None,
            "children": services.tracker.get_runs(services.tracker.store.children(found.run_id)),
        },
        charts=charts,
    )


@router.get("/runs/{run_id}/evaluation")
def evaluation(request: Request, who: Who, run_id: str) -> Response:
    """A training run's full evaluation report (slices, importance, curves)."""
    who.require("read")
    services = services_of(request)
    found = services.tracker.get_run(services.tracker.resolve_run_id(run_id))
    report = TrainingRecord(found).evaluation
    if report is None:
        raise NotFound(f"run {found.run_id} has no evaluation report")
    return HTMLResponse(report.to_html(plotly_js_src=PLOTLY_URL), headers=SECURITY_HEADERS)


@router.get("/compare")
def compare(
    request: Request,
    who: Who,
    run: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI's idiom
    metric: str | None = None,
) -> Response:
    """Up to 500 runs side by side: params (differences marked), metrics, histories."""
    who.require("read")
    if not 1 <= len(run) <= MAX_COMPARE:
        raise ValidationError(
            f"compare takes 1 to {MAX_COMPARE} runs; {len(run)} were chosen (tick runs in the "
            "runs table)"
        )
    if any(not 0 < len(run_id) <= 32 for run_id in run):
        raise ValidationError("a run id has 1 to 32 characters; tick runs in the runs table")
    services = services_of(request)
    chosen = services.tracker.get_runs(list(dict.fromkeys(run)))
    if not chosen:
        raise NotFound("none of the chosen runs exists")
    params = sorted({k for r in chosen for k in r.params})
    metrics = sorted({k for r in chosen for k in r.metrics})
    differ = {k for k in params if len({r.params.get(k) for r in chosen}) > 1}
    keys = history_keys(services.db, [r.run_id for r in chosen])
    shown = metric if metric in keys else (keys[0] if keys else None)
    names = {r.run_id: r.name for r in chosen}
    charts = _latest_chart(chosen, metrics[:6])
    if shown is not None:
        charts |= _history_charts(services, list(names)[:_CHARTED_RUNS], names, only=shown)
    return page(
        "compare.html.j2",
        {
            "viewer": who,
            "runs": chosen,
            "params": params,
            "metrics": metrics,
            "differ": differ,
            "history_keys": keys,
            "shown": shown,
            "charted": min(len(chosen), _CHARTED_RUNS),
            "table_rows": _TABLE_ROWS,
        },
        charts=charts,
    )


def _latest_chart(chosen: list[Any], metrics: list[str]) -> dict[str, str]:
    if not metrics:
        return {}
    labels = [f"{r.name} ({r.run_id[:8]})" for r in chosen]
    bars = [
        {"type": "bar", "name": key, "x": labels, "y": [r.metrics.get(key) for r in chosen]}
        for key in metrics
    ]
    labelled = len(chosen) <= _LABELLED_RUNS
    axis = "run" if labelled else f"{len(chosen)} runs, in the table's order (names on hover)"
    layout = {"barmode": "group", "xaxis": {"showticklabels": labelled}}
    return {
        "latest": plain_chart_div(
            bars, "latest", x_title=axis, y_title="latest value", height=360, layout=layout
        )
    }


def _history_charts(
    services: Services, run_ids: list[str], names: dict[str, str], *, only: str | None = None
) -> dict[str, str]:
    keys = [only] if only else history_keys(services.db, run_ids)[:10]
    charts: dict[str, str] = {}
    for index, key in enumerate(keys):
        lines = [
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"{names.get(run_id, run_id)} ({run_id[:8]})",
                "x": steps,
                "y": values,
            }
            for run_id, (steps, values) in histories(services.db, run_ids, key).items()
        ]
        charts[f"history-{index}"] = plain_chart_div(
            lines, f"history-{index}", x_title="step", y_title=key, height=320
        )
    return charts


@router.get("/models")
def models(request: Request, who: Who) -> Response:
    """Registered models with their latest version and aliases."""
    services = services_of(request)
    listed = [m for m in services.registry.models() if who.may("read", m["name"])]
    if not listed:
        who.require("read")
    return page("models.html.j2", {"viewer": who, "models": listed})


@router.get("/models/{name}")
def model(request: Request, who: Who, name: str) -> Response:
    """A model: versions, aliases with their history, gates, lineage, the card's link."""
    who.require("read", name)
    services = services_of(request)
    registry = services.registry
    versions = registry.versions(name)
    aliases = {a: v.version for v in versions for a in v.aliases}
    lineage = registry.lineage(f"{name}@{CHAMPION}") if CHAMPION in aliases else None
    return page(
        "model.html.j2",
        {
            "viewer": who,
            "name": name,
            "description": registry.description(name),
            "versions": versions,
            "aliases": aliases,
            "history": list(reversed(registry.alias_history(name))),
            "gates": registry.gates(name).to_json(),
            "lineage": lineage,
            "champion": CHAMPION,
            "archived": ARCHIVED,
        },
    )


@router.get("/models/{name}/card")
def card(request: Request, who: Who, name: str, version: int | None = None) -> Response:
    """The model card of a version (default: the champion, else the latest)."""
    who.require("read", name)
    registry = services_of(request).registry
    ref = f"{name}/{version}" if version is not None else name
    return HTMLResponse(render_html(card_data(registry, ref)), headers=SECURITY_HEADERS)


@router.get("/models/{name}/operation")
def operation(request: Request, who: Who, name: str) -> Response:
    """A model in operation: traffic, latency, errors, drift per feature, performance,
    alerts, from the latest monitoring report and the alerts table."""
    who.require("read", name)
    services = services_of(request)
    services.registry.versions(name)  # an unknown model is a 404, not an empty page
    report = _report(services, name)
    alerts = read_alerts(services.db, model=name, limit=50)
    charts = _operation_charts(report) if report else {}
    history = drift_history(services.layout, name)
    if history:
        charts["drift_history"] = _drift_history_chart(history)
    return page(
        "operation.html.j2",
        {
            "viewer": who,
            "name": name,
            "report": report,
            "alerts": alerts,
            "samples": _samples(services, name),
        },
        charts=charts,
    )


#: Latest prediction-log rows the operation page shows.
_SAMPLES = 20


def _samples(services: Services, name: str) -> dict[str, Any]:
    """The latest logged rows as the log stores them: a sensitive input hashed or absent.

    Inputs are decoded with the newest version's signature (the one monitoring uses
    for that version); values are shown, never recomputed.
    """
    signature = services.registry.versions(name)[-1].signature
    frame = read_predictions(
        services.layout, name, signature=signature, last_rows=_SAMPLES, include_errors=True
    )
    inputs = [spec for spec in signature.inputs if spec.name in frame.columns][:12]
    rows = [
        {
            "time": row["time"],
            "version": row["version"],
            "route": row["route"],
            "inputs": [row[spec.name] for spec in inputs],
            "prediction": row["prediction"],
            "latency_ms": row["latency_ms"],
            "error": row["error"],
        }
        for row in reversed(frame.to_dict(orient="records"))
    ]
    return {"columns": inputs, "rows": rows}


def _drift_history_chart(history: list[dict[str, Any]]) -> str:
    """One line per feature: its PSI (or first statistic) at each recorded pass."""
    figure = go.Figure()
    names = sorted({feature for entry in history for feature in entry["features"]})
    for feature in names[:30]:
        points = [
            (entry["time"], _statistic(entry["features"].get(feature)))
            for entry in history
            if feature in entry["features"]
        ]
        drifted = [
            bool(entry["features"][feature].get("drifted"))
            for entry in history
            if feature in entry["features"]
        ]
        figure.add_trace(
            go.Scatter(
                x=[t for t, _ in points],
                y=[v for _, v in points],
                mode="lines+markers",
                name=feature,
                marker={"symbol": ["x" if d else "circle" for d in drifted], "size": 8},
            )
        )
    style_axes(figure, "time", "drift statistic (PSI)", height=340)
    return chart_div(figure, "drift-history", height=340)


def _statistic(feature: dict[str, Any] | None) -> float | None:
    statistics = (feature or {}).get("statistics") or {}
    value = statistics.get("psi", next(iter(statistics.values()), None))
    return float(value) if isinstance(value, int | float) else None


def _report(services: Services, name: str) -> dict[str, Any] | None:
    path = services.layout.reports_of(name) / "monitor.json"
    try:
        data = json.loads(path.read_bytes())
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _operation_charts(report: dict[str, Any]) -> dict[str, str]:
    charts: dict[str, str] = {}
    latency = report.get("latency") or []
    if latency:
        figure = go.Figure()
        for field, label in (("p50", "p50"), ("p99", "p99")):
            figure.add_trace(
                go.Scatter(
                    x=[r["time"] for r in latency],
                    y=[r.get(field) for r in latency],
                    mode="lines",
                    name=f"{label} latency (ms)",
                )
            )
        figure.add_trace(
            go.Bar(
                x=[r["time"] for r in latency],
                y=[r.get("requests") for r in latency],
                name="requests",
                yaxis="y2",
                opacity=0.3,
            )
        )
        style_axes(figure, "time", "latency (ms)", height=320)
        # Both axes start at zero and only the left one draws grid lines: two scales
        # with their own zero and grids read as one misaligned chart.
        figure.update_layout(
            yaxis={"rangemode": "tozero"},
            yaxis2={
                "overlaying": "y",
                "side": "right",
                "title": {"text": "requests"},
                "rangemode": "tozero",
                "showgrid": False,
            },
        )
        charts["traffic"] = chart_div(figure, "traffic", height=320)
    columns = ((report.get("drift") or {}).get("columns")) or []
    if columns:
        figure = go.Figure(
            go.Bar(
                x=[c["name"] for c in columns],
                y=[_psi(c) for c in columns],
                marker_color=["#c0392b" if c.get("drifted") else "#2e86c1" for c in columns],
            )
        )
        style_axes(figure, "feature", "PSI", height=320)
        charts["drift"] = chart_div(figure, "drift", height=320)
    performance = [
        (kind, report.get(kind) or []) for kind in ("realized", "estimated") if report.get(kind)
    ]
    if performance:
        figure = go.Figure()
        for kind, rows in performance:
            figure.add_trace(
                go.Scatter(
                    x=[r["end"] for r in rows],
                    y=[r["value"] for r in rows],
                    mode="lines+markers",
                    name=kind,
                )
            )
        style_axes(figure, "time", str(report.get("metric") or "metric"), height=320)
        charts["performance"] = chart_div(figure, "performance", height=320)
    return charts


def _psi(column: dict[str, Any]) -> float | None:
    result = (column.get("results") or {}).get("psi") or {}
    value = result.get("statistic")
    return float(value) if isinstance(value, int | float) else None


@router.get("/retraining")
def retraining(request: Request, who: Who) -> Response:
    """Policies, each challenger-vs-champion decision with its interval (the result
    the ``retrain`` job stores), and the worker's jobs with their state and error."""
    who.require("read")
    services = services_of(request)
    policies = PolicyStore(services.db).list()
    jobs = services.jobs.list(limit=100)
    decisions = [
        {"job": job, **job.result}
        for job in services.jobs.list(state="done", kind="retrain", limit=50)
        if isinstance(job.result, dict) and job.result.get("decision")
    ]
    return page(
        "retraining.html.j2",
        {"viewer": who, "policies": policies, "jobs": jobs, "decisions": decisions},
    )


@router.get("/audit")
def audit(
    request: Request, who: Who, before: Annotated[int | None, Query(ge=1)] = None
) -> Response:
    """The audit log, newest first, 100 a page, with the chain's status (admins)."""
    who.require("manage")
    services = services_of(request)
    events = services.security.audit_events()
    if before is not None:
        events = [e for e in events if e.seq < before]
    shown = list(reversed(events))[:100]
    status = verify_audit(services.db)
    return page("audit.html.j2", {"viewer": who, "events": shown, "status": status})


@router.get("/users")
def users(request: Request, who: Who) -> Response:
    """Users, their roles and open sessions, and every API key (admins)."""
    who.require("manage")
    security = services_of(request).security
    listed = security.users()
    sessions = {u.name: security.sessions.open_sessions(u.name) for u in listed}
    keys = security.list_keys()
    return page(
        "users.html.j2", {"viewer": who, "users": listed, "sessions": sessions, "keys": keys}
    )

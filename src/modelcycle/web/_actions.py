"""Actions: promote, roll back, archive, acknowledge an alert, trigger a retrain, revoke a
key, disable a user.

Each has a confirmation page (``GET``), which shows what will happen (for a promotion,
the gate results first) and a form; the form's ``POST`` checks the session, the CSRF
token and the role again on the server, whatever the page showed, and the change
writes its audit event (the registry and security services write theirs; an
acknowledgement and a retrain request write one here, in the same transaction).
"""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Form, Request
from sqlalchemy.engine import Connection
from starlette.responses import RedirectResponse, Response

from modelcycle.core import Conflict, NotFound, ValidationError, now_ms
from modelcycle.lifecycle import PolicyStore
from modelcycle.registry import CHAMPION, PromotionRefused
from modelcycle.security._audit import append
from modelcycle.store import tables
from modelcycle.web._auth import check_form
from modelcycle.web._pages import Who, services_of
from modelcycle.web._render import page

router = APIRouter(include_in_schema=False)
Csrf = Annotated[str, Form()]


def _confirm(
    who: Any, title: str, action: str, lines: list[str], *, status: int = 200, **extra: Any
) -> Response:
    context: dict[str, Any] = {
        "viewer": who,
        "title": title,
        "action": action,
        "lines": lines,
        "reasons": [],
        "fields": {},
        "allowed": True,
        "force": False,
        "gates_checked": False,
        "back": _back(action),
    }
    context.update(extra)
    return page("confirm.html.j2", context, status=status)


def _back(action: str) -> str:
    """Where Cancel leads: the page the action was offered on."""
    parts = action.strip("/").split("/")
    if parts[0] == "models":
        return f"/models/{parts[1]}"
    return {"alerts": "/models", "retraining": "/retraining"}.get(parts[0], "/users")


def _done(target: str) -> Response:
    return RedirectResponse(target, status_code=303)


# -- promote ---------------------------------------------------------------------------


@router.get("/models/{name}/promote")
def promote_form(request: Request, who: Who, name: str, version: int) -> Response:
    """Gate results first, then the confirmation."""
    who.require("read", name)
    registry = services_of(request).registry
    reasons = registry.check_gates(name, version)
    may = who.may("promote", name)
    return _confirm(
        who,
        f"Promote {name}/{version} to @{CHAMPION}",
        f"/models/{name}/promote",
        [f"@{CHAMPION} of {name} moves to version {version}; servers follow it."],
        reasons=reasons,
        fields={"version": version},
        allowed=may and (not reasons or who.may("manage")),
        force=bool(reasons) and may and who.may("manage"),
        gates_checked=True,
    )


@router.post("/models/{name}/promote")
def promote(
    request: Request,
    who: Who,
    name: str,
    version: Annotated[int, Form()],
    csrf: Csrf = "",
    force: Annotated[bool, Form()] = False,
) -> Response:
    """Promote to champion; a failing gate is shown with its reasons (admins may force)."""
    check_form(request, who, csrf)
    who.require("promote", name)
    if force:
        who.require("manage")
    registry = services_of(request).registry
    try:
        registry.promote(name, version, force=force, actor=who.user)
    except PromotionRefused as refused:
        return _confirm(
            who,
            f"Promote {name}/{version} to @{CHAMPION}",
            f"/models/{name}/promote",
            [f"{name}/{version} was not promoted."],
            reasons=refused.reasons,
            fields={"version": version},
            allowed=who.may("manage"),
            force=who.may("manage"),
            gates_checked=True,
            status=409,
        )
    return _done(f"/models/{name}")


# -- rollback and archive ----------------------------------------------------------------


@router.get("/models/{name}/rollback")
def rollback_form(request: Request, who: Who, name: str) -> Response:
    """What a rollback of @champion does."""
    who.require("read", name)
    return _confirm(
        who,
        f"Roll back {name}@{CHAMPION}",
        f"/models/{name}/rollback",
        [f"@{CHAMPION} of {name} returns to the version it pointed at before its last move."],
        allowed=who.may("rollback", name),
    )


@router.post("/models/{name}/rollback")
def rollback(request: Request, who: Who, name: str, csrf: Csrf = "") -> Response:
    """Return @champion to its previous version."""
    check_form(request, who, csrf)
    who.require("rollback", name)
    services_of(request).registry.rollback(name, actor=who.user)
    return _done(f"/models/{name}")


@router.get("/models/{name}/archive")
def archive_form(request: Request, who: Who, name: str, version: int) -> Response:
    """What archiving a version does."""
    who.require("read", name)
    return _confirm(
        who,
        f"Archive {name}/{version}",
        f"/models/{name}/archive",
        [f"{name}/{version} is kept for audit and never served again (it can be restored)."],
        fields={"version": version},
        allowed=who.may("register", name),
    )


@router.post("/models/{name}/archive")
def archive(
    request: Request, who: Who, name: str, version: Annotated[int, Form()], csrf: Csrf = ""
) -> Response:
    """Archive a version no alias points at."""
    check_form(request, who, csrf)
    who.require("register", name)
    services_of(request).registry.archive(name, version, actor=who.user)
    return _done(f"/models/{name}")


# -- alerts and retraining -----------------------------------------------------------------


def _alert(connection: Connection, alert_id: int) -> dict[str, Any]:
    alerts = tables.alerts
    row = connection.execute(sa.select(alerts).where(alerts.c.alert_id == alert_id)).first()
    if row is None:
        raise NotFound(f"alert {alert_id} does not exist")
    return dict(row._mapping)


@router.get("/alerts/{alert_id}/ack")
def acknowledge_form(request: Request, who: Who, alert_id: int) -> Response:
    """What acknowledging an alert records."""
    with services_of(request).db.read() as connection:
        alert = _alert(connection, alert_id)
    who.require("read", alert["model"])
    return _confirm(
        who,
        f"Acknowledge alert {alert_id}",
        f"/alerts/{alert_id}/ack",
        [f"{alert['model']}: {alert['message']}", "Your name and the time are recorded."],
        allowed=who.may("configure", alert["model"]),
    )


@router.post("/alerts/{alert_id}/ack")
def acknowledge(request: Request, who: Who, alert_id: int, csrf: Csrf = "") -> Response:
    """Record who acknowledged an alert, with an audit event in the same transaction."""
    check_form(request, who, csrf)
    services = services_of(request)
    with services.db.read() as connection:
        model = _alert(connection, alert_id)["model"]
    who.require("configure", model)

    def work(connection: Connection) -> None:
        alert = _alert(connection, alert_id)
        if alert["acknowledged_at"] is not None:
            raise Conflict(f"alert {alert_id} was acknowledged by {alert['acknowledged_by']}")
        connection.execute(
            sa.update(tables.alerts)
            .where(tables.alerts.c.alert_id == alert_id)
            .values(acknowledged_at=now_ms(), acknowledged_by=who.user)
        )
        append(
            connection,
            actor=who.user,
            action="alert.acknowledge",
            target=f"{model}:alert:{alert_id}",
            after={"rule": alert["rule"]},
        )

    services.db.transaction(work)
    return _done(f"/models/{model}/operation")


@router.get("/retraining/{model}/trigger")
def retrain_form(request: Request, who: Who, model: str) -> Response:
    """What a retrain request does."""
    who.require("read", model)
    return _confirm(
        who,
        f"Retrain {model}",
        f"/retraining/{model}/trigger",
        [f"A retrain job for {model} is queued; a worker runs it as its policy says."],
        allowed=who.may("train", model),
    )


@router.post("/retraining/{model}/trigger")
def retrain(request: Request, who: Who, model: str, csrf: Csrf = "") -> Response:
    """Queue a retrain job (one per model at a time), audited."""
    check_form(request, who, csrf)
    who.require("train", model)
    services = services_of(request)
    policy = PolicyStore(services.db).get(model)
    if policy is None or policy.retraining is None:
        raise ValidationError(
            f"model {model!r} has no retraining policy; set one with "
            "'modelcycle policy set <file.toml>'"
        )
    job = services.jobs.enqueue(
        "retrain", model, {"trigger": "manual", "by": who.user}, dedupe_key=f"retrain:{model}"
    )
    if job is None:
        raise Conflict(f"a retrain of {model!r} is already queued or running")
    services.db.transaction(
        lambda connection: append(
            connection,
            actor=who.user,
            action="retrain.request",
            target=model,
            after={"job": job.job_id},
        )
    )
    return _done("/retraining")


# -- keys and users --------------------------------------------------------------------------


@router.get("/keys/{prefix}/revoke")
def revoke_key_form(request: Request, who: Who, prefix: str) -> Response:
    """What revoking a key does."""
    who.require("manage")
    return _confirm(
        who,
        f"Revoke API key {prefix}",
        f"/keys/{prefix}/revoke",
        [f"Key {prefix} stops working (servers refuse it within their auth cache time)."],
    )


@router.post("/keys/{prefix}/revoke")
def revoke_key(request: Request, who: Who, prefix: str, csrf: Csrf = "") -> Response:
    """Revoke an API key (admins)."""
    check_form(request, who, csrf)
    who.require("manage")
    services_of(request).security.revoke_key(prefix, actor=who.user)
    return _done("/users")


@router.get("/users/{name}/disable")
def disable_form(request: Request, who: Who, name: str) -> Response:
    """What disabling a user does."""
    who.require("manage")
    return _confirm(
        who,
        f"Disable user {name}",
        f"/users/{name}/disable",
        [f"{name} can no longer sign in; their keys and open sessions stop working."],
    )


@router.post("/users/{name}/disable")
def disable(request: Request, who: Who, name: str, csrf: Csrf = "") -> Response:
    """Disable a user and end their sessions (admins; never oneself)."""
    check_form(request, who, csrf)
    who.require("manage")
    if name == who.user:
        raise ValidationError("you cannot disable yourself; ask another admin")
    security = services_of(request).security
    security.set_disabled(name, True, actor=who.user)
    security.sessions.end_sessions(name, actor=who.user)
    return _done("/users")

"""``modelcycle policy``, ``worker``, ``retrain`` and ``jobs``: the closed loop from the shell."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from modelcycle.cli import _output as out
from modelcycle.cli._context import ClusterOption, state
from modelcycle.core import ValidationError

if TYPE_CHECKING:
    from modelcycle.lifecycle import RetrainingPolicy, Worker
    from modelcycle.records import Job

policy_app = typer.Typer(
    help="Monitoring and retraining policies, one per model (TOML).", no_args_is_help=True
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
ModelArgument = Annotated[str, typer.Argument(help="Model name.")]


# -- policies ---------------------------------------------------------------------------


@policy_app.command("set")
def policy_set(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Policy file (TOML); see docs/lifecycle.md.")],
) -> None:
    """Validate a policy file and store it for its model (replacing any; audited)."""
    from modelcycle.lifecycle import Policy

    policy = Policy.from_toml(file)
    state(ctx).open().policies.set(policy)
    retraining = policy.retraining
    plan = f"monitoring every {policy.monitoring.every}"
    if retraining is not None:
        plan += f", retraining from {retraining.source!r} ({retraining.mode})"
    out.console.print(f"policy of [bold]{policy.model}[/] set: {plan}")


@policy_app.command("show")
def policy_show(ctx: typer.Context, model: ModelArgument, json: JsonOption = False) -> None:
    """Print a model's policy as TOML (or JSON)."""
    stored = state(ctx).open().policies.info(model)
    if json:
        data = stored.policy.to_dict()
        out.print_json({**data, "updated_at": stored.updated_at, "updated_by": stored.updated_by})
        return
    header = f"# set by {stored.updated_by} at {stored.updated_at.isoformat()}\n"
    sys.stdout.write(header + stored.policy.to_toml())  # verbatim: Rich would wrap long lines


@policy_app.command("list")
def policy_list(ctx: typer.Context, json: JsonOption = False) -> None:
    """List the models that have a policy."""
    policies = state(ctx).open().policies.list()
    if json:
        out.print_json([p.to_dict() for p in policies])
        return
    rows = []
    for p in policies:
        triggers = _triggers(p.retraining) if p.retraining is not None else "-"
        rows.append([p.model, p.monitoring.every, str(len(p.monitoring.alerts)), escape(triggers)])
    columns = ["model", "monitor every", "alerts", "retrain on"]
    out.console.print(out.table(f"{len(rows)} policy(ies)", columns, rows))


def _triggers(retraining: RetrainingPolicy) -> str:
    parts = [f"alert {name!r}" for name in retraining.on_alerts]
    if retraining.every:
        parts.append(f"every {retraining.every}")
    if retraining.new_labels:
        parts.append(f"{retraining.new_labels} new labels")
    return ", ".join(parts) or "manual only"


@policy_app.command("delete")
def policy_delete(ctx: typer.Context, model: ModelArgument) -> None:
    """Remove a model's policy (the worker stops scheduling it; audited)."""
    state(ctx).open().policies.delete(model)
    out.console.print(f"policy of [bold]{model}[/] deleted")


# -- the worker -------------------------------------------------------------------------

_STYLE = {
    "scheduled": "dim",
    "started": "cyan",
    "done": "green",
    "deferred": "yellow",
    "retry": "yellow",
    "failed": "red",
    "released": "magenta",
    "lease-lost": "red",
}


def _print_event(event: str, job: Job, detail: str) -> None:
    style = _STYLE.get(event, "white")
    model = job.model or "-"
    out.console.print(
        f"[{style}]{event:<10}[/] {escape(job.kind):<8} {escape(model):<20} {job.job_id[:8]}  "
        + escape(detail),
        highlight=False,
    )


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """First Ctrl-C/SIGTERM: finish the current job, then stop. Second: release it and exit."""

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        out.err_console.print("stopping after the current job (again to stop now)")

    previous: dict[signal.Signals, Callable[..., Any] | int | None] = {}
    if threading.current_thread() is threading.main_thread():  # only there can Python trap them
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handle)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def worker(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Run at most one job, then exit.")] = False,
    max_jobs: Annotated[
        int | None, typer.Option("--max-jobs", min=1, help="Exit after this many jobs.")
    ] = None,
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Exit when no job is due.")
    ] = False,
    lease: Annotated[
        float, typer.Option("--lease", min=1, help="Seconds a claimed job is held without renewal.")
    ] = 30,
    poll: Annotated[
        float, typer.Option("--poll", min=0.05, help="Seconds between looks at an empty queue.")
    ] = 1,
    owner: Annotated[
        str | None, typer.Option("--owner", help="This worker's name in leases.")
    ] = None,
    cluster: ClusterOption = None,
) -> None:
    """Run the policies' jobs: monitor, retrain, check promotions (Ctrl-C stops cleanly).

    With --cluster, a retrain's search runs its trials on the Dask cluster's workers,
    and a monitor job reads the prediction log there.
    """
    state(ctx).cluster = cluster
    runner: Worker = (
        state(ctx).open().worker(lease_s=lease, poll_s=poll, owner=owner, on_event=_print_event)
    )
    stop = threading.Event()
    with _stop_on_signals(stop):
        out.console.print(f"worker {runner.owner} running {', '.join(sorted(runner.handlers))}")
        ran = runner.run(stop=stop, max_jobs=1 if once else max_jobs, until_idle=until_idle)
    out.console.print(f"worker {runner.owner} stopped after {ran} job(s)")


def retrain(
    ctx: typer.Context,
    model: ModelArgument,
    wait: Annotated[
        bool, typer.Option("--wait", help="Run the retrain here and now, and print its result.")
    ] = False,
    json: JsonOption = False,
) -> None:
    """Enqueue a retrain of a model now (its policy says how); --wait runs it in-process."""
    ws = state(ctx).open()
    policy = ws.policies.get(model)
    if policy is None or policy.retraining is None:
        raise ValidationError(
            f"model {model!r} has no retraining policy; set one with "
            "'modelcycle policy set <file.toml>' (it names the training data)"
        )
    job = ws.jobs.enqueue("retrain", model, {"trigger": "manual"}, dedupe_key=f"retrain:{model}")
    if job is None:
        pending = ws.jobs.list(model=model, kind="retrain", limit=1)
        raise ValidationError(
            f"a retrain of {model!r} is already queued or running (job {pending[0].job_id}); "
            "see 'modelcycle jobs'"
        )
    if not wait:
        out.console.print(f"retrain of [bold]{model}[/] queued as job {job.job_id}")
        return
    finished = ws.worker(on_event=None if json else _print_event).run_job(job.job_id)
    if json:
        out.print_json(finished.to_dict())
    elif finished.state == "failed":
        raise ValidationError(f"retrain job {finished.job_id} failed: {finished.error}")
    elif finished.state == "queued" and finished.error:
        raise ValidationError(
            f"retrain job {finished.job_id} failed this attempt ({finished.error}); "
            "a worker will retry it"
        )


def jobs(
    ctx: typer.Context,
    job_state: Annotated[
        str | None, typer.Option("--state", help="queued, running, done or failed.")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", help="Only this model's jobs.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Most jobs listed.")] = 50,
    json: JsonOption = False,
) -> None:
    """List the worker's jobs, newest first."""
    found = state(ctx).open().jobs.list(state=job_state, model=model, limit=limit)
    if json:
        out.print_json([job.to_dict() for job in found])
        return
    rows = [
        [
            job.job_id[:12],
            job.kind,
            job.model or "-",
            f"[{_STATE_STYLE.get(job.state, 'white')}]{job.state}[/]",
            f"{job.attempts}/{job.max_attempts}",
            out.when(job.run_after),
            job.lease_owner or "-",
            escape(_outcome(job)),
        ]
        for job in found
    ]
    columns = ["job", "kind", "model", "state", "tries", "due", "owner", "outcome"]
    out.console.print(out.table(f"{len(rows)} job(s)", columns, rows, wrap_last=True))


_STATE_STYLE = {"queued": "cyan", "running": "yellow", "done": "green", "failed": "red"}


def _outcome(job: Job) -> str:
    if job.error and job.state != "done":
        return job.error
    result = job.result
    if isinstance(result, dict):
        parts = [f"{k}={result[k]}" for k in ("outcome", "decision", "version") if k in result]
        if isinstance(result.get("alerts"), list):
            parts.append(f"alerts={len(result['alerts'])}")
        return " ".join(parts) or "-"
    return "-"

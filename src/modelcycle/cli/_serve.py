"""``modelcycle serve``: run the prediction server for one or more model references."""

from __future__ import annotations

import gc
import importlib.util
import ipaddress
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelcycle.cli import _output as out
from modelcycle.cli._context import ClusterOption, state
from modelcycle.cli._settings_options import setting_options_of, settings_from
from modelcycle.core import Conflict, NotFound, PermissionDenied, ValidationError

if TYPE_CHECKING:
    from rich.console import Console
    from starlette.types import ASGIApp

    from modelcycle.core import Settings
    from modelcycle.security import Security
    from modelcycle.services import Services
    from modelcycle.serving import ServedModel
    from modelcycle.serving._workers import WorkerConfig
    from modelcycle.workspace import Workspace

ADMIN_KEY_FILE = "admin.key"
HostOption = Annotated[str, typer.Option(help="Address to listen on.")]
PortOption = Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")]
AllowRemoteOption = Annotated[
    bool, typer.Option("--allow-remote", help="Allow a non-loopback --host.")
]


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_host(host: str, *, allow_remote: bool, no_auth: bool = False) -> None:
    """Refuse a non-loopback address without ``--allow-remote``, and always with ``--no-auth``."""
    if _loopback(host):
        return
    if no_auth:
        raise PermissionDenied(
            f"refusing to listen on {host!r} with --no-auth: anyone who can reach it could "
            "predict and read the audit log; drop --no-auth (callers then need API keys) or "
            "serve on 127.0.0.1"
        )
    if not allow_remote:
        raise PermissionDenied(
            f"refusing to listen on {host!r} without --allow-remote: API keys are sent in "
            "clear over plain HTTP, so serve on 127.0.0.1 behind a TLS proxy, or pass "
            "--allow-remote if the network is trusted"
        )


def ensure_admin_key(
    security: Security, home: Path, *, console: Console | None = None
) -> Path | None:
    """On a workspace without users, create user ``admin`` and an admin key.

    The key is written to ``home/admin.key`` (mode 0600) and printed once (on
    ``console``, default stdout); an
    existing file is never overwritten. Returns the file, or ``None`` when the
    workspace already has users.

    Raises
    ------
    Conflict
        ``admin.key`` exists although the workspace has no users.
    """
    from modelcycle.store import create_private

    if security.users():
        return None
    path = Path(home) / ADMIN_KEY_FILE
    try:
        descriptor = create_private(path)  # 0600 in a 0700 folder, whatever the umask
    except FileExistsError:
        raise Conflict(
            f"{path} exists but the workspace has no users; move the file away (it is "
            "refused, not overwritten) and serve again to create the first admin key"
        ) from None
    try:
        security.create_user("admin", actor="modelcycle serve")
        security.grant("admin", "admin", actor="modelcycle serve")
        key, info = security.create_key("admin", "admin", actor="modelcycle serve")
    except BaseException:
        os.close(descriptor)
        path.unlink()
        raise
    with os.fdopen(descriptor, "w") as file:
        file.write(key + "\n")
    (console or out.console).print(
        f"created user 'admin' and admin API key {info.prefix} (shown once, saved to {path}, "
        f"readable only by you):\n{key}",
        highlight=False,
        soft_wrap=True,
    )
    return path


def _fastest(module: str, name: str) -> str:
    return name if importlib.util.find_spec(module) is not None else "auto"


@setting_options_of("modelcycle.serving._settings:ServeSettings")
def serve(
    ctx: typer.Context,
    refs: Annotated[
        list[str] | None,
        typer.Argument(
            help="Models to serve: 'name', 'name@alias' or 'name/version' (none: only the "
            "MLflow tracking API and the probes)."
        ),
    ] = None,
    host: HostOption = "127.0.0.1",
    port: PortOption = 8000,
    allow_remote: AllowRemoteOption = False,
    no_auth: Annotated[
        bool,
        typer.Option(
            "--no-auth",
            help="Do not require API keys (every caller may do everything); loopback only.",
        ),
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Server processes sharing the port (each loads the models and writes its own "
            "log segments).",
        ),
    ] = 1,
    **options: Any,
) -> None:
    """Serve models over HTTP (REST /v1, Open Inference V2, MLflow's /invocations; OpenAPI at
    /docs), MLflow's tracking API for MLflow clients, and the dashboard at /; follow
    promotions and rollbacks.

    Without REFS it serves only the tracking API and the probes. Every server option is
    also a setting (MODELCYCLE_SERVE_<NAME>, see docs/settings.md); an option given here
    wins over its variable. The logs go where the workspace's log URL (--log-url) or
    log_root says, so the workers and 'modelcycle monitor' read what this server writes.
    """
    with collections_paused():  # the start-up's imports: see collections_paused
        import uvicorn

        from modelcycle.serving import ServeSettings, create_app, log_config
        from modelcycle.serving._hub import missing_refs
        from modelcycle.serving._privacy import workspace_salt
        from modelcycle.serving._workers import NoDelayHttpToolsProtocol, WorkerConfig

        check_host(host, allow_remote=allow_remote, no_auth=no_auth)
        refs = list(refs or ())
        settings = settings_from(ServeSettings, options, models=tuple(refs))
        ws = state(ctx).open()
        challengers = [c.split("=")[0] for c in settings.canary] + list(settings.shadow)
        problems = missing_refs(ws.registry, tuple(refs) + tuple(challengers))
        if problems:
            raise NotFound("cannot serve: " + "; ".join(problems))
        if not no_auth:
            ensure_admin_key(ws.security, ws.settings.home)
        salt = workspace_salt(ws.settings.home)  # created once, before any worker reads it
        keys = "API keys required" if not no_auth else "NO API keys required (--no-auth)"
        processes = f" in {workers} worker processes" if workers > 1 else ""
        served = ", ".join(refs) or "no model"
        out.console.print(
            f"serving {served} at http://{host}:{port}{processes} (dashboard at /, docs at "
            f"/docs; MLflow tracking URI http://{host}:{port}; {keys})"
        )
        if workers == 1:
            app = create_app(ws.services, settings, auth_required=not no_auth, log_salt=salt)
            config = uvicorn.Config(
                _with_dashboard(app, ws.services),
                host=host,
                port=port,
                loop=_fastest("uvloop", "uvloop"),
                http=NoDelayHttpToolsProtocol,  # see serving/_workers.py on TCP_NODELAY
                log_level="info",
                log_config=log_config(),  # credentials in URLs and headers are redacted
            )
    if workers > 1:
        worker_config = WorkerConfig(
            workspace=_absolute(ws.settings), serve=settings, auth_required=not no_auth
        )
        _run_workers(worker_config, workers, host=host, port=port)
        return
    uvicorn.Server(config).run()


@contextmanager
def collections_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a server imports and builds its app, then
    move what that made into the permanent generation (``gc.freeze``) and resume it.

    Importing pandas, scikit-learn, SciPy, FastAPI and the server makes some 400,000
    objects that live as long as the process; collections scanning them again and again
    cost about 0.3 s of CPU of a server's start (issue 12). A collection afterwards finds
    only ~2,000 unreachable objects among them: what the freeze keeps is a few hundred kB.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _absolute(settings: Settings) -> Settings:
    """``settings`` with the database and artifact locations spelled out (for worker processes)."""
    return settings.model_copy(
        update={
            "home": settings.home.resolve(),
            "log_root": None,
            "log_url": settings.resolved_log_location(),
            "db_url": settings.resolved_db_url(),
            "artifact_root": settings.resolved_artifact_root(),
        }
    )


def _run_workers(config: WorkerConfig, workers: int, *, host: str, port: int) -> None:
    """Run ``workers`` processes building their app with :func:`worker_app` (until stopped)."""
    import uvicorn

    from modelcycle.serving import log_config
    from modelcycle.serving._workers import NoDelayHttpToolsProtocol

    environment = config.to_env()
    os.environ.update(environment)  # spawned workers inherit it; see serving/_workers.py
    try:
        uvicorn.run(
            f"{__name__}:worker_app",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            loop=_fastest("uvloop", "uvloop"),
            http=NoDelayHttpToolsProtocol,
            log_level="info",
            log_config=log_config(),
        )
    finally:
        for name in environment:
            os.environ.pop(name, None)


def worker_app() -> ASGIApp:
    """The app of one ``serve --workers N`` process (a uvicorn factory, called in the worker).

    Rebuilt from the :class:`~modelcycle.serving.WorkerConfig` the parent put in the
    environment: the same workspace, settings and log folders; the models load before
    the worker accepts connections.
    """
    with collections_paused():
        from modelcycle.serving import create_app
        from modelcycle.serving._privacy import workspace_salt
        from modelcycle.serving._workers import WorkerConfig
        from modelcycle.workspace import Workspace

        config = WorkerConfig.from_env()
        ws = Workspace(settings=config.workspace, upgrade=False)
        api = create_app(
            ws.services,
            config.serve,
            auth_required=config.auth_required,
            log_salt=workspace_salt(ws.settings.home),
            worker=True,
        )
        return _with_dashboard(api, ws.services)


def _with_dashboard(api: ASGIApp, services: Services) -> ASGIApp:
    """``api`` with the dashboard at ``/``, built when its first page is asked for."""
    from modelcycle.web import with_dashboard
    from modelcycle.web._mount import built_on_first_request

    def build() -> ASGIApp:
        from modelcycle.web import create_web_app

        return create_web_app(services)

    return with_dashboard(api, built_on_first_request(build))


def ui(
    ctx: typer.Context,
    host: HostOption = "127.0.0.1",
    port: PortOption = 8080,
    allow_remote: AllowRemoteOption = False,
    session_hours: Annotated[
        float, typer.Option(min=0.01, max=720, help="How long a sign-in lasts, in hours.")
    ] = 8.0,
) -> None:
    """Serve the dashboard alone (no model needed): runs, models, operation, audit.

    Sign in with a password ('modelcycle users passwd NAME') or an API key. Behind a TLS
    proxy the session cookie is marked Secure (start uvicorn's proxy headers with
    FORWARDED_ALLOW_IPS naming the proxy).
    """
    from datetime import timedelta

    import uvicorn

    from modelcycle.serving import log_config
    from modelcycle.web import WebSettings, create_web_app

    check_host(host, allow_remote=allow_remote)
    ws = state(ctx).open()
    ensure_admin_key(ws.security, ws.settings.home)
    settings = WebSettings(session_ttl=timedelta(hours=session_hours))
    out.console.print(f"dashboard of {ws.services.location} at http://{host}:{port}/")
    uvicorn.run(
        create_web_app(ws.services, settings),
        host=host,
        port=port,
        log_level="info",
        log_config=log_config(),
    )


def score(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="Model: 'name', 'name@alias' or 'name/version'.")],
    source: Annotated[
        str,
        typer.Argument(
            help="Input .parquet or .csv file; with --cluster, a folder or s3:// prefix of "
            "Parquet partitions."
        ),
    ],
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            help="Output .parquet or .csv file; with --cluster, a new folder (or s3:// "
            "prefix) for one Parquet file per partition.",
        ),
    ] = "scored.parquet",
    rejects: Annotated[
        Path | None,
        typer.Option(help="CSV of rejected rows with reasons (default: <output>.rejects.csv)."),
    ] = None,
    keep: Annotated[
        list[str] | None,
        typer.Option(
            "--keep",
            metavar="COLUMNS",
            help="Copy these input columns (comma-separated or repeated) into the output.",
            show_default=False,
        ),
    ] = None,
    chunk_rows: Annotated[int, typer.Option(min=1, help="Rows read per chunk.")] = 50_000,
    cluster: ClusterOption = None,
) -> None:
    """Score a file in chunks, validated like the server; bad rows go to a reject file.

    With --cluster, every Parquet file of a folder or s3:// prefix is scored by its own
    task on the Dask cluster. Exits with code 9 when rows were rejected (the scored rows
    are still written).
    """
    from rich.progress import Progress

    from modelcycle.serving import load_served, score_file

    kept = [name.strip() for text in keep or () for name in text.split(",") if name.strip()]
    if "://" not in source and not Path(source).exists():
        raise ValidationError(
            f"input {source!r} does not exist; expected a .parquet or .csv file (with "
            "--cluster, a folder or s3:// prefix of Parquet files)"
        )
    cli_state = state(ctx)
    cli_state.cluster = cluster
    ws = cli_state.open()
    model = load_served(ws.registry, ref, max_rows=chunk_rows)
    if ws.settings.dask_address:
        _score_on_cluster(ws, model, source, output, rejects, kept, chunk_rows)
        return
    if "://" in source or "://" in output:
        raise ValidationError(
            f"scoring {source!r} into {output!r}: object-store URLs need --cluster (a Dask "
            "cluster); on this machine, score a local file"
        )
    target = Path(output)
    reject_file = rejects or target.with_name(target.stem + ".rejects.csv")
    with Progress(console=out.err_console, transient=True) as bar:
        task = bar.add_task(f"scoring with {model.name}/{model.version}", total=None)
        summary = score_file(
            model,
            Path(source),
            target,
            rejects=reject_file,
            chunk_rows=chunk_rows,
            keep=kept,
            progress=lambda n: bar.advance(task, n),
        )
    where = f"into {summary.output}" if summary.output else "(no output written)"
    out.console.print(
        f"scored {summary.scored} rows with {model.name}/{model.version} {where}", highlight=False
    )
    if summary.rejects is not None:
        out.err_console.print(
            f"[yellow]{summary.rejected} rows rejected[/]: see {summary.rejects}", highlight=False
        )
        raise typer.Exit(out.REJECTED_EXIT_CODE)


def _score_on_cluster(
    ws: Workspace,
    model: ServedModel,
    source: str,
    output: str,
    rejects: Path | None,
    kept: list[str],
    chunk_rows: int,
) -> None:
    """``score --cluster``: one Dask task per Parquet partition, one progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from modelcycle.distributed import connect, partitions, score_partitions

    count = len(partitions(source)[2])
    reject_file = rejects or Path(output.rstrip("/").rsplit("/", 1)[-1] + ".rejects.csv")
    client = connect(str(ws.settings.dask_address))
    try:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, console=out.err_console, transient=True) as bar:
            task = bar.add_task(
                f"scoring {count} partitions with {model.name}/{model.version}", total=count
            )
            summary = score_partitions(
                client,
                ws.settings,
                model,
                source,
                output,
                rejects=reject_file,
                keep=kept,
                chunk_rows=chunk_rows,
                progress=lambda done, rows: bar.update(task, completed=done),
            )
    finally:
        client.close()  # type: ignore[no-untyped-call]
    out.console.print(
        f"scored {summary.scored} rows of {summary.partitions} partitions with "
        f"{model.name}/{model.version} into {summary.output}",
        highlight=False,
    )
    if summary.rejects is not None:
        out.err_console.print(
            f"[yellow]{summary.rejected} rows rejected[/]: see {summary.rejects}", highlight=False
        )
        raise typer.Exit(out.REJECTED_EXIT_CODE)

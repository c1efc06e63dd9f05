"""The services of one workspace, built once and handed to every operation.

``create_app(services, settings)``, ``monitor(services, ...)``, ``Worker(services)``
and the web dashboard take one :class:`Services` instead of a database, a registry,
a folder and a security object each: where the logs live, which database holds the
runs and which key seals the audit chain are decided when the workspace is opened,
and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modelcycle.core import NotFound, Settings, ValidationError
from modelcycle.records import JobQueue
from modelcycle.registry import Registry
from modelcycle.security import Security
from modelcycle.security._reseal import open_audit_chain
from modelcycle.store import (
    ArtifactStore,
    Database,
    LogLayout,
    current_revision,
    ensure_current,
    head_revision,
    open_artifact_store,
)
from modelcycle.tracking import Tracker


@dataclass(frozen=True, eq=False)
class Services:
    """A workspace's database, artifact store, tracker, registry, security, jobs and logs.

    Thread-safety: every part may be shared by threads (each opens its own database
    connections per operation); build one per process and close it at exit.

    Attributes
    ----------
    settings:
        The workspace's settings (locations, timeouts, the audit key).
    db, artifacts:
        The metadata database and the content-addressed artifact store.
    tracker, registry, security, jobs:
        Runs; model versions and aliases; users, keys and the audit chain; the
        worker's job queue.
    layout:
        Where the prediction and feedback logs and the monitoring reports live.
    """

    settings: Settings
    db: Database
    artifacts: ArtifactStore
    tracker: Tracker
    registry: Registry
    security: Security
    jobs: JobQueue
    layout: LogLayout

    @classmethod
    def open(cls, settings: Settings, *, upgrade: bool = True, create: bool = True) -> Services:
        """Open (or, with ``create``, make) the workspace ``settings`` point at.

        Raises
        ------
        NotFound
            ``create=False`` and no workspace is there; nothing is created.
        ValidationError
            ``upgrade=False`` and the database is at an older schema revision.
        WorkspaceError
            The database cannot be reached or the folder cannot be written.
        """
        if not create:
            _refuse_missing_file(settings)
        db = Database(settings.resolved_db_url(), busy_timeout_s=settings.sqlite_busy_timeout_s)
        if not create:
            _refuse_empty(db)
        if upgrade:
            ensure_current(db)
        else:
            _refuse_outdated(db)
        open_audit_chain(db, settings)  # right after the migrations: seal a new chain
        artifacts = open_artifact_store(settings.resolved_artifact_root())
        tracker = Tracker(db, artifacts, settings)
        return cls(
            settings=settings,
            db=db,
            artifacts=artifacts,
            tracker=tracker,
            registry=Registry(db, artifacts, tracker),
            security=Security(db),
            jobs=JobQueue(db),
            layout=LogLayout.of(settings),
        )

    @property
    def home(self) -> Path:
        """The workspace folder (admin key, audit key, salt; logs unless moved)."""
        return self.settings.home

    @property
    def location(self) -> str:
        """Where the workspace is, for people: its folder, or its database URL (no password)."""
        return self.db.display_url if self.settings.db_url else str(self.home.resolve())

    def close(self) -> None:
        """Flush buffered tracking and release database connections."""
        self.tracker.close()
        self.db.dispose()


def no_workspace(where: str) -> NotFound:
    """The error for a place without a workspace, saying how to make one."""
    return NotFound(
        f"no workspace at {where}; create one by training a model "
        "('modelcycle train data.csv --target y --name m') or with 'modelcycle db upgrade', "
        "or point at an existing one with --workspace / MODELCYCLE_HOME"
    )


def _refuse_missing_file(settings: Settings) -> None:
    """Refuse a SQLite workspace whose database file does not exist (without creating it)."""
    url = settings.resolved_db_url()
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.is_file():
            raise no_workspace(repr(str(settings.home if not settings.db_url else path)))


def _refuse_empty(db: Database) -> None:
    """Refuse a database that no modelcycle has set up (e.g. a new PostgreSQL database)."""
    if current_revision(db) is None:
        db.dispose()
        raise no_workspace(repr(db.display_url))


def _refuse_outdated(db: Database) -> None:
    current, head = current_revision(db), head_revision()
    if current != head:
        raise ValidationError(
            f"workspace database {db.display_url!r} is at schema revision {current!r}, "
            f"expected {head!r}; run 'modelcycle db upgrade'"
        )

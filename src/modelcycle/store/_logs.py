"""Where the operation logs live and what their Parquet segments hold.

Two append-only logs and the latest monitoring reports sit under one root (the
workspace folder unless ``log_root`` moves them), one folder per model; each log is
one Parquet file ("segment") per write, written under a temporary name and renamed
so readers never see half a file. A segment's name is ``<UTC stamp>-<writer>-<random>``,
where the writer (:func:`writer_id`: host, process id and start time) differs between
the replicas sharing a workspace, so two processes never write the same file and
readers take every writer's segments alike. :class:`LogLayout` is the one owner of the folders:

- ``<root>/predictions/<model>/*.parquet``: every answered (or refused) prediction,
  one row per input row (:data:`PREDICTION_SCHEMA`), written by the server.
- ``<root>/feedback/<model>/*.parquet``: delayed labels (:data:`FEEDBACK_SCHEMA`),
  from ``POST /v1/models/{ref}/feedback`` and ``modelcycle feedback``.
- ``<root>/reports/<model>/monitor.{html,json}``: the latest monitoring report.

The root may also be an object store (``log_url = s3://bucket/prefix``, see
:mod:`._object_logs`): writers then write to :attr:`LogLayout.staging` and publish
(:meth:`LogLayout.publish_predictions`...), and the ``*_of`` folders readers take are
local mirrors, brought up to date by each call.

Inputs are stored as JSON objects with sorted keys (:func:`inputs_json`), so a label
sent with the inputs instead of a request id finds its prediction by equal text.
Read them with DuckDB (``read_parquet(..., union_by_name=true)``: older segments
may lack newer columns).
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from modelcycle.core import MODEL_NAME, Settings
from modelcycle.store._files import private_writer
from modelcycle.store._object_logs import ObjectLogs

#: One row per predicted input row. ``route``: ``primary``, ``canary`` or ``shadow``
#: (a shadow row repeats the answered request's id). ``error``: ``None`` for an
#: answered row; for a refused request, one row with the error code (``inputs``,
#: ``prediction`` and ``probabilities`` empty), so error rates come from the same log.
PREDICTION_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("time", pa.timestamp("ms", tz="UTC")),
        ("model", pa.string()),
        ("version", pa.int64()),
        ("row", pa.int32()),
        ("inputs", pa.string()),
        ("prediction", pa.string()),
        ("probabilities", pa.list_(pa.float64())),
        ("latency_ms", pa.float64()),
        ("route", pa.string()),
        ("error", pa.string()),
    ]
)

#: One delayed label. Either ``request_id`` (and ``row``, the row within that
#: request, 0 for single-row requests) or ``inputs`` identifies the prediction;
#: ``label`` is the true target as JSON text (``"1"``, ``"\"yes\""``, ``"3.5"``).
FEEDBACK_SCHEMA = pa.schema(
    [
        ("feedback_id", pa.string()),
        ("time", pa.timestamp("ms", tz="UTC")),
        ("model", pa.string()),
        ("request_id", pa.string()),
        ("row", pa.int32()),
        ("inputs", pa.string()),
        ("label", pa.string()),
        ("source", pa.string()),
    ]
)


@dataclass(frozen=True)
class LogLayout:
    """The folders of a workspace's prediction log, feedback log and monitoring reports.

    Every process on a workspace — servers, workers, ``modelcycle monitor`` — builds
    its layout from the same settings (:meth:`of`), so what a server writes is what
    monitoring reads. Each folder holds one sub-folder per model.

    With logs in an object store (``remote``), the three folders are this machine's
    mirror of what was published: :meth:`predictions_of`, :meth:`feedback_of` and
    :meth:`reports_of` bring a model's folder up to date before returning it (one
    listing of the store, then the missing files), writers write into
    :attr:`staging` and publish with :meth:`publish_predictions`,
    :meth:`publish_feedback` and :meth:`publish_reports`. Locally, the folders are the
    logs themselves, :attr:`staging` is the layout itself and publishing does nothing.

    Examples
    --------
    >>> layout = LogLayout.under(Path("/srv/ws"))
    >>> str(layout.predictions_of("churn")), str(layout.reports)
    ('/srv/ws/predictions/churn', '/srv/ws/reports')
    >>> layout.staging is layout, layout.publish_predictions()
    (True, 0)
    """

    predictions: Path
    feedback: Path
    reports: Path
    #: The object store the logs are published to (``None``: the folders are the logs).
    remote: ObjectLogs | None = field(default=None, compare=False, repr=False)
    #: Where this process stages segments before publishing them (with ``remote``).
    staged: Path | None = None

    @classmethod
    def under(cls, root: Path | str) -> LogLayout:
        """``predictions/``, ``feedback/`` and ``reports/`` in ``root``."""
        folder = Path(root)
        return cls(folder / "predictions", folder / "feedback", folder / "reports")

    @classmethod
    def of(cls, settings: Settings) -> LogLayout:
        """The layout of the workspace ``settings`` open.

        Under ``log_url`` (a folder, or an object store mirrored in ``home/log-mirror/``
        and staged in ``home/log-staging/``), else ``log_root``, else ``home``.

        Raises
        ------
        ValidationError
            ``log_url`` is not a folder or a supported object-store URL, or carries
            credentials.
        """
        if settings.log_url is None:
            return cls.under(settings.log_root or settings.home)
        location = settings.resolved_log_location()
        if "://" not in location:
            return cls.under(location)
        remote = ObjectLogs(location)
        # One mirror and staging folder per log URL: changing the URL never sends a
        # segment staged for one store to another.
        name = hashlib.sha256(remote.url.encode()).hexdigest()[:16]
        home = settings.home.expanduser().resolve()
        mirror = home / MIRROR_FOLDER / name
        return cls(
            mirror / "predictions",
            mirror / "feedback",
            mirror / "reports",
            remote=remote,
            staged=home / STAGING_FOLDER / name,
        )

    @property
    def location(self) -> str:
        """Where the logs are, for people: the object-store URL or the log root folder."""
        return self.remote.url if self.remote is not None else str(self.predictions.parent)

    @property
    def staging(self) -> LogLayout:
        """Where this process writes new segments (the layout itself for local logs)."""
        if self.remote is None or self.staged is None:
            return self
        return LogLayout.under(self.staged)

    def predictions_of(self, model: str) -> Path:
        """One model's prediction log folder (the name is checked: no path can climb out)."""
        return self._current(self.predictions, model, mutable=False)

    def segments_of(self, model: str, names: Collection[str]) -> Path:
        """One model's prediction log folder holding at least the segments ``names``.

        From an object store only these are fetched (a worker reading part of the log);
        locally the folder is the log itself.
        """
        folder = self.predictions / MODEL_NAME.check(model)
        if self.remote is not None:
            self.remote.mirror(f"{self.predictions.name}/{folder.name}", folder, only=names)
        return folder

    def feedback_of(self, model: str) -> Path:
        """One model's feedback log folder."""
        return self._current(self.feedback, model, mutable=False)

    def reports_of(self, model: str) -> Path:
        """One model's monitoring report folder (write a new report here, then publish it)."""
        return self._current(self.reports, model, mutable=True)

    def publish_predictions(self) -> int:
        """Upload the staged prediction segments; return how many (0 for local logs).

        Raises
        ------
        WorkspaceError
            The object store refused or could not be reached; what was not uploaded
            stays staged for the next call.
        """
        return self._publish(self.staging.predictions)

    def publish_feedback(self) -> int:
        """Upload the staged feedback segments, as :meth:`publish_predictions`."""
        return self._publish(self.staging.feedback)

    def publish_reports(self, model: str) -> int:
        """Upload what changed in the model's report folder; return how many files."""
        if self.remote is None:
            return 0
        folder = self.reports / MODEL_NAME.check(model)
        return self.remote.upload_changed(folder, f"{self.reports.name}/{folder.name}")

    def _current(self, root: Path, model: str, *, mutable: bool) -> Path:
        folder = root / MODEL_NAME.check(model)
        if self.remote is not None:
            self.remote.mirror(f"{root.name}/{folder.name}", folder, mutable=mutable)
        return folder

    def _publish(self, staging: Path) -> int:
        if self.remote is None:
            return 0
        return self.remote.upload_segments(staging, staging.name)


#: Folder of ``home`` holding the local mirrors of logs in an object store.
MIRROR_FOLDER = "log-mirror"
#: Folder of ``home`` holding segments written but not yet uploaded to an object store.
STAGING_FOLDER = "log-staging"


def segment_glob(folder: Path | str) -> str:
    """A DuckDB/pyarrow glob matching every finished segment under ``folder``."""
    return str(Path(folder) / "**" / "*.parquet")


def inputs_json(row: dict[str, Any]) -> str:
    """One input row as canonical JSON (sorted keys; NumPy values allowed)."""
    return orjson.dumps(row, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY).decode()


_UNSAFE = re.compile(r"[^A-Za-z0-9.]+")
#: When this process loaded the module (its start, for naming segments).
_STARTED = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")


def writer_id() -> str:
    """This process's name in segment names: ``<host>.<pid>.<start>`` (file-name safe).

    Distinct for every replica of a server on one workspace: on one host the process
    ids differ (a forked child's too), and a restarted server reusing a pid starts later.

    >>> import re; bool(re.fullmatch(r"[A-Za-z0-9.]+", writer_id()))
    True
    """
    host = _UNSAFE.sub(".", socket.gethostname())[:40].strip(".") or "host"
    return f"{host}.{os.getpid()}.{_STARTED}"


def write_segment(folder: Path | str, table: pa.Table) -> Path:
    """Write ``table`` as a new segment in ``folder`` atomically and privately; return its path.

    The folder is created mode 0700 and the segment 0600 (it holds model inputs);
    readers never see a half-written segment (see :func:`~modelcycle.store.private_writer`).
    """
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    path = Path(folder) / f"{stamp}-{writer_id()}-{uuid.uuid4().hex[:8]}.parquet"
    with private_writer(path) as handle:
        pq.write_table(table, handle)
    return path

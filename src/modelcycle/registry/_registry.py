"""The model registry: register, resolve, load, promote with gates, roll back, archive."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from modelcycle.core import (
    Conflict,
    IntegrityError,
    ModelRef,
    NotFound,
    PermissionDenied,
    ValidationError,
    now_ms,
)
from modelcycle.packaging import MANIFEST, LoadedModel, Manifest, load_model
from modelcycle.records import TrainingRecord, Validation
from modelcycle.registry import _store as sql
from modelcycle.registry._gates import Gates, PromotionRefused, gate_reasons
from modelcycle.registry._version import (
    ARCHIVED,
    READY,
    AliasEvent,
    ModelVersion,
    check_alias,
    check_model_name,
)
from modelcycle.security._audit import append
from modelcycle.security._roles import default_actor
from modelcycle.store import ArtifactStore, Database
from modelcycle.tracking import ActiveRun, Run, Tracker

if TYPE_CHECKING:
    from modelcycle.store._db import Listener

CHAMPION = "champion"


class Registry:
    """Registered models and their versions in one workspace.

    Thread-safety: share freely; writes are serialised per model by the database.
    Returned :class:`ModelVersion` objects are immutable snapshots.
    """

    def __init__(self, db: Database, artifacts: ArtifactStore, tracker: Tracker) -> None:
        self._db = db
        self._artifacts = artifacts
        self._tracker = tracker

    # -- registering -------------------------------------------------------------

    def register(
        self,
        run: Run | ActiveRun | str,
        name: str,
        *,
        artifact: str = "model",
        description: str | None = None,
        creator: str | None = None,
        actor: str | None = None,
        trusted: bool = False,
    ) -> ModelVersion:
        """Register the model package a run logged under ``artifact/`` as a new version.

        ``actor`` (default: the operating-system user) is recorded in the audit log. A
        trusted package (the caller's own classes) registers only with ``trusted=True``:
        whoever registers vouches for it, whatever its manifest claims, and it is
        audited as ``version.register.trusted``.

        Raises
        ------
        NotFound
            The run does not exist or has no model package at ``artifact/``.
        IntegrityError
            A package file is missing from the artifact store or differs from its manifest.
        PermissionDenied
            The package needs trust and ``trusted`` is false.
        """
        check_model_name(name)
        run_id = run if isinstance(run, str) else run.run_id
        if isinstance(run, ActiveRun):
            run.flush()
        source = self._tracker.get_run(run_id)
        manifest, manifest_row = self._verified_manifest(source, artifact)
        if manifest.trusted and not trusted:
            raise PermissionDenied(
                f"run {source.run_id} logged a trusted package at {artifact!r} (its "
                f"{manifest.flavor!r} flavor runs the model's own code); register it with "
                "trusted=True only if you trust its source (the audit log records it)"
            )
        datasets = self._datasets(source)
        row = {
            "run_id": source.run_id,
            "status": READY,
            "flavor": manifest.flavor,
            "manifest_sha256": manifest_row["sha256"],
            "manifest_size": manifest_row["size"],
            "signature": json.dumps(manifest.signature.to_dict()),
            "metrics": json.dumps(dict(source.metrics)),
            "train_dataset": datasets.get("train"),
            "test_dataset": datasets.get("test"),
            "package_versions": json.dumps(manifest.package_versions),
            "git_commit": source.git_commit,
            "creator": creator or source.user,
            "description": description,
            "trusted": int(manifest.trusted),
            "created_at": now_ms(),
        }

        def work(connection: Connection) -> int:
            model = sql.lock_model(connection, name, create=True)
            version = sql.next_version(connection, model)
            sql.insert_version(connection, {**row, "model_id": model, "version": version})
            action = "version.register.trusted" if row["trusted"] else "version.register"
            after = {k: row[k] for k in ("run_id", "flavor", "manifest_sha256", "trusted")}
            _audit(connection, actor, action, f"{name}/{version}", after=after)
            return version

        version = self._db.transaction(work)
        return self.get_version(name, version)

    def _verified_manifest(self, run: Run, artifact: str) -> tuple[Manifest, dict[str, Any]]:
        stored = {a["path"]: a for a in run.artifacts}
        manifest_path = f"{artifact}/{MANIFEST}"
        if manifest_path not in stored:
            raise NotFound(
                f"run {run.run_id} has no model package at {artifact!r} (no {manifest_path!r} "
                "artifact); log one with run.log_model(model, signature=sample)"
            )
        manifest_row = stored[manifest_path]
        data = self._artifacts.read_bytes(
            manifest_row["sha256"], size=manifest_row["size"], name=manifest_path
        )
        manifest = Manifest.from_bytes(data, source=manifest_path)
        for file, expected in sorted(manifest.files.items()):
            logged = stored.get(f"{artifact}/{file}")
            if logged is None:
                raise IntegrityError(
                    f"model package file {artifact}/{file} listed in the manifest was not logged"
                )
            if (logged["sha256"], logged["size"]) != (expected["sha256"], expected["size"]):
                raise IntegrityError(
                    f"model package file {artifact}/{file} does not match its manifest entry"
                )
            self._artifacts.verify(logged["sha256"], size=logged["size"], name=f"{artifact}/{file}")
        return manifest, manifest_row

    def _datasets(self, run: Run) -> dict[str, str]:
        found = {d["role"]: d["dataset_hash"] for d in run.datasets}
        if ("train" not in found or "test" not in found) and run.parent_run_id:
            parent = {
                d["role"]: d["dataset_hash"]
                for d in self._tracker.get_run(run.parent_run_id).datasets
            }
            found = {**parent, **found}
        return found

    # -- reading ---------------------------------------------------------------------

    def alias_listener(self) -> Listener | None:
        """A waiter woken by every alias move on this workspace (PostgreSQL ``LISTEN``).

        ``None`` on SQLite: a follower polls. Close it when done.
        """
        return self._db.listener(sql.ALIAS_CHANNEL)

    def resolve(self, ref: str | ModelRef) -> ModelVersion:
        """The version a reference names: ``name/3``, ``name@alias`` or ``name`` (= champion)."""
        parsed = ref if isinstance(ref, ModelRef) else ModelRef.parse(ref)
        with self._db.read() as connection:
            if parsed.version is not None:
                return sql.get_version(connection, parsed.name, parsed.version)
            model = sql.model_id(connection, parsed.name)
            aliases = sql.aliases_of(connection, model)
            if parsed.alias not in aliases:
                known = ", ".join(f"@{a}" for a in sorted(aliases)) or "none"
                newest = sql.latest_version(connection, model)
                hint = (
                    f"; point it at a version with 'modelcycle promote {parsed.name} {newest}', "
                    f"or name a version: {parsed.name}/{newest}"
                    if newest
                    else ""
                )
                raise NotFound(
                    f"model {parsed.name!r} has no alias @{parsed.alias} (aliases: {known}){hint}",
                    details={"model": parsed.name, "alias": parsed.alias},
                )
            return sql.get_version(connection, parsed.name, aliases[str(parsed.alias)])

    def get_version(self, name: str, version: int) -> ModelVersion:
        """One version by number."""
        with self._db.read() as connection:
            return sql.get_version(connection, name, version)

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of a model, newest first."""
        with self._db.read() as connection:
            return sql.list_versions(connection, name)

    def models(self) -> list[dict[str, Any]]:
        """Every registered model with its version count, latest version and aliases."""
        with self._db.read() as connection:
            return sql.list_models(connection)

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasEvent]:
        """Every move of the model's aliases (or of one alias), oldest first."""
        with self._db.read() as connection:
            return sql.alias_events(connection, sql.model_id(connection, name), alias)

    def manifest(self, ref: str | ModelRef) -> Manifest:
        """The manifest of a version (checked against its recorded SHA-256): its files,
        flavor and the runtime that serves it (``manifest.runtime``)."""
        version = self.resolve(ref)
        data = self._artifacts.read_bytes(
            version.manifest_sha256, size=version.manifest_size, name=f"{version.ref} {MANIFEST}"
        )
        return Manifest.from_bytes(data, source=f"{version.ref} {MANIFEST}")

    def load(self, ref: str | ModelRef) -> LoadedModel:
        """Load a version after verifying every file's SHA-256; archived versions are refused."""
        version = self.resolve(ref)
        if version.status == ARCHIVED:
            raise Conflict(
                f"model {version.name!r} version {version.version} is archived and is never "
                "served; "
                f"restore it with 'modelcycle models restore {version.name} {version.version}'"
            )
        manifest_bytes = self._artifacts.read_bytes(
            version.manifest_sha256, size=version.manifest_size, name=f"{version.ref} {MANIFEST}"
        )
        manifest = Manifest.from_bytes(manifest_bytes, source=f"{version.ref} {MANIFEST}")
        with tempfile.TemporaryDirectory(prefix="modelcycle-load-") as folder:
            root = Path(folder)
            for file, entry in manifest.files.items():
                self._artifacts.copy_to(
                    entry["sha256"], root / file, size=entry["size"], name=f"{version.ref}:{file}"
                )
            (root / MANIFEST).write_bytes(manifest_bytes)
            return load_model(root, trusted=version.trusted)

    # -- aliases, gates, lifecycle -----------------------------------------------------

    def set_gates(
        self, name: str, gates: Gates | Mapping[str, Any], *, actor: str | None = None
    ) -> Gates:
        """Configure the gates checked when a version of ``name`` is promoted to champion."""
        parsed = gates if isinstance(gates, Gates) else Gates.from_mapping(gates)

        def work(connection: Connection) -> None:
            model = sql.lock_model(connection, name)
            before = sql.gates_json(connection, model)
            sql.set_gates(connection, model, parsed.to_json())
            _audit(
                connection,
                actor,
                "model.gates",
                name,
                before=json.loads(before) if before else None,
                after=json.loads(parsed.to_json()),
            )

        self._db.transaction(work)
        return parsed

    def gates(self, name: str) -> Gates:
        """The model's gate configuration (defaults when none was set)."""
        with self._db.read() as connection:
            return Gates.from_json(sql.gates_json(connection, sql.model_id(connection, name)))

    def promote(
        self,
        name: str,
        version: int,
        alias: str = CHAMPION,
        *,
        force: bool = False,
        allow_breaking: bool = False,
        actor: str | None = None,
    ) -> ModelVersion:
        """Point ``alias`` at ``version`` atomically; ``@champion`` must pass the gates.

        Raises
        ------
        PromotionRefused
            A gate failed (the reasons are listed); ``force=True`` overrides and is recorded.
        Conflict
            The version is archived.
        """
        check_alias(alias)
        actor = actor or default_actor()
        record = self.training_record(self.get_version(name, version))
        validation = record.validation if record is not None else None

        def work(connection: Connection) -> None:
            model = sql.lock_model(connection, name)
            candidate = sql.get_version(connection, name, version)
            if candidate.status == ARCHIVED:
                raise Conflict(
                    f"model {name!r} version {version} is archived; promote another version or "
                    f"restore it with 'modelcycle models restore {name} {version}'"
                )
            current = sql.aliases_of(connection, model).get(alias)
            if current == version:
                return
            reasons: list[str] = []
            if alias == CHAMPION:
                reasons = _gate_reasons(
                    connection, (name, model), candidate, current, allow_breaking, validation
                )
                if reasons and not force:
                    raise PromotionRefused(candidate.ref, alias, reasons)
            sql.set_alias(connection, model, alias, version)
            sql.record_event(
                connection,
                model,
                alias,
                "promote",
                (current, version),
                actor=actor,
                forced=bool(reasons),
                reasons=reasons,
            )
            after = {"version": version, "forced": bool(reasons), "reasons": reasons}
            target = f"{name}@{alias}"
            _audit(connection, actor, "alias.promote", target, {"version": current}, after)

        self._db.transaction(work)
        return self.get_version(name, version)

    def check_gates(self, name: str, version: int, *, allow_breaking: bool = False) -> list[str]:
        """Why ``version`` could not become champion now (empty: it would pass), changing
        nothing: what a person sees before confirming a promotion."""
        candidate = self.get_version(name, version)
        record = self.training_record(candidate)
        validation = record.validation if record is not None else None
        with self._db.read() as connection:
            model = sql.model_id(connection, name)
            current = sql.aliases_of(connection, model).get(CHAMPION)
            return _gate_reasons(
                connection, (name, model), candidate, current, allow_breaking, validation
            )

    def training_record(self, version: ModelVersion) -> TrainingRecord | None:
        """The training record of the run that made ``version`` (``None`` without a run)."""
        if version.run_id is None:
            return None
        try:
            return TrainingRecord(self._tracker.get_run(version.run_id))
        except NotFound:
            return None

    def rollback(
        self, name: str, alias: str = CHAMPION, *, actor: str | None = None
    ) -> ModelVersion:
        """Return ``alias`` to the version it pointed at before its last move."""
        check_alias(alias)
        actor = actor or default_actor()

        def work(connection: Connection) -> int:
            model = sql.lock_model(connection, name)
            current = sql.aliases_of(connection, model).get(alias)
            events = [
                e for e in sql.alias_events(connection, model, alias) if e.to_version == current
            ]
            previous = events[-1].from_version if events else None
            if current is None or previous is None:
                raise Conflict(f"model {name!r} has no previous @{alias} to roll back to")
            target = sql.get_version(connection, name, previous)
            if target.status == ARCHIVED:
                raise Conflict(
                    f"the previous @{alias} of {name!r}, version {previous}, is archived; "
                    "restore it first"
                )
            sql.set_alias(connection, model, alias, previous)
            sql.record_event(
                connection,
                model,
                alias,
                "rollback",
                (current, previous),
                actor=actor,
                forced=False,
                reasons=[],
            )
            before, after = {"version": current}, {"version": previous}
            _audit(connection, actor, "alias.rollback", f"{name}@{alias}", before, after)
            return previous

        return self.get_version(name, self._db.transaction(work))

    def archive(self, name: str, version: int, *, actor: str | None = None) -> ModelVersion:
        """Archive a version: kept for audit, never served; refused while an alias points at it."""

        def work(connection: Connection) -> None:
            model = sql.lock_model(connection, name)
            sql.get_version(connection, name, version)
            holders = sorted(
                a for a, v in sql.aliases_of(connection, model).items() if v == version
            )
            if holders:
                aliases = ", ".join(f"@{a}" for a in holders)
                raise Conflict(
                    f"model {name!r} version {version} is {aliases}; move the alias to another "
                    "version first"
                )
            _change_status(connection, (name, model, version), ARCHIVED, actor, "version.archive")

        self._db.transaction(work)
        return self.get_version(name, version)

    def restore(self, name: str, version: int, *, actor: str | None = None) -> ModelVersion:
        """Make an archived version servable again."""

        def work(connection: Connection) -> None:
            model = sql.lock_model(connection, name)
            _change_status(connection, (name, model, version), READY, actor, "version.restore")

        self._db.transaction(work)
        return self.get_version(name, version)

    def delete_version(self, name: str, version: int, *, actor: str | None = None) -> None:
        """Delete an archived version that no alias ever pointed at; others are kept for audit."""

        def work(connection: Connection) -> None:
            model = sql.lock_model(connection, name)
            found = sql.get_version(connection, name, version)
            if found.status != ARCHIVED:
                raise Conflict(
                    f"model {name!r} version {version} is not archived; archive it before deleting"
                )
            if sql.ever_aliased(connection, model, version):
                raise Conflict(
                    f"model {name!r} version {version} was once aliased and is kept for the "
                    "audit trail"
                )
            sql.delete_version(connection, model, version)
            before = {"status": found.status, "manifest_sha256": found.manifest_sha256}
            _audit(connection, actor, "version.delete", f"{name}/{version}", before, None)

        self._db.transaction(work)

    def describe(self, name: str, description: str, *, actor: str | None = None) -> None:
        """Set a model's description (its intended use, shown on model cards)."""
        if not isinstance(description, str) or len(description) > 10_000:
            raise ValidationError("a description must be a string of at most 10,000 characters")

        def work(connection: Connection) -> None:
            model = sql.lock_model(connection, name)
            before = sql.description(connection, model)
            sql.set_description(connection, model, description)
            _audit(connection, actor, "model.describe", name, before, description)

        self._db.transaction(work)

    def description(self, name: str) -> str | None:
        """A model's description."""
        with self._db.read() as connection:
            return sql.description(connection, sql.model_id(connection, name))

    # -- lineage -------------------------------------------------------------------------

    def lineage(self, ref: str | ModelRef) -> dict[str, Any]:
        """From a version back to its run, parent run, sibling trials and data sets."""
        version = self.resolve(ref)
        result: dict[str, Any] = {
            "version": version.to_dict(),
            "run": None,
            "parent": None,
            "trials": [],
        }
        if version.run_id is None:
            return result
        run = self._tracker.get_run(version.run_id)
        result["run"] = {**run.to_dict(), "datasets": run.datasets}
        head = self._tracker.get_run(run.parent_run_id) if run.parent_run_id else run
        if run.parent_run_id:
            result["parent"] = {**head.to_dict(), "datasets": head.datasets}
        result["trials"] = [child.to_dict() for child in head.children]
        return result

    def versions_trained_on(self, dataset_hash: str) -> list[ModelVersion]:
        """Every version trained or evaluated on a data set (by its fingerprint hash)."""
        with self._db.read() as connection:
            pairs = sql.versions_on_dataset(connection, dataset_hash)
            return [sql.get_version(connection, name, number) for name, number in pairs]


def _gate_reasons(
    connection: Connection,
    model: tuple[str, int],
    candidate: ModelVersion,
    current: int | None,
    allow_breaking: bool,
    validation: Validation | None,
) -> list[str]:
    """The gates' reasons against the model's champion ``current`` (one place for both)."""
    name, model_id = model
    champion = sql.get_version(connection, name, current) if current else None
    gates = Gates.from_json(sql.gates_json(connection, model_id))
    return gate_reasons(
        gates, candidate, champion, allow_breaking=allow_breaking, validation=validation
    )


def _change_status(
    connection: Connection,
    version: tuple[str, int, int],
    status: str,
    actor: str | None,
    action: str,
) -> None:
    """Set a version's status and audit the change (nothing happens if it already has it)."""
    name, model, number = version
    current = sql.get_version(connection, name, number).status
    if current != status:
        sql.set_status(connection, model, number, status)
        _audit(
            connection, actor, action, f"{name}/{number}", {"status": current}, {"status": status}
        )


def _audit(
    connection: Connection,
    actor: str | None,
    action: str,
    target: str,
    before: Any = None,
    after: Any = None,
) -> None:
    """One audit event in the change's own transaction (so both commit or neither)."""
    actor = actor or default_actor()
    append(connection, actor=actor, action=action, target=target, before=before, after=after)

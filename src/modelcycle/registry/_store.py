"""SQL of the registry. Every write runs inside a caller's transaction.

Thread- and process-safety: writers lock the registered model's row first
(``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite write transactions are already
exclusive), so two processes promoting or registering at once are serialised and
the alias history stays one consistent chain.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelcycle.core import NotFound, ms_to_datetime, now_ms
from modelcycle.registry._version import AliasEvent, ModelVersion, version_from_row
from modelcycle.store import Database, tables

#: The PostgreSQL channel on which every alias move is announced (the payload is the
#: model's id), so servers follow it at once (:meth:`Registry.alias_listener`).
ALIAS_CHANNEL = "modelcycle_aliases"

_mv, _rm, _al, _ah = (
    tables.model_versions,
    tables.registered_models,
    tables.model_aliases,
    tables.alias_history,
)


def lock_model(connection: Connection, name: str, *, create: bool = False) -> int:
    """Return the model's id, locking its row; create the model when ``create``."""
    query = sa.select(_rm.c.model_id).where(_rm.c.name == name).with_for_update()
    model_id = connection.execute(query).scalar()
    if model_id is None and create:
        now = now_ms()
        insert = sa.insert(_rm).values(name=name, created_at=now, updated_at=now)
        connection.execute(insert)
        model_id = connection.execute(query).scalar()
    if model_id is None:
        raise NotFound(
            f"model {name!r} is not registered; list models with 'modelcycle models list'"
        )
    return int(model_id)


def model_id(connection: Connection, name: str) -> int:
    """The id of model ``name`` (no lock)."""
    value = connection.execute(sa.select(_rm.c.model_id).where(_rm.c.name == name)).scalar()
    if value is None:
        raise NotFound(
            f"model {name!r} is not registered; list models with 'modelcycle models list'"
        )
    return int(value)


def latest_version(connection: Connection, model: int) -> int | None:
    """The highest version of the model (``None`` before the first)."""
    highest = connection.execute(
        sa.select(sa.func.max(_mv.c.version)).where(_mv.c.model_id == model)
    ).scalar()
    return int(highest) if highest is not None else None


def next_version(connection: Connection, model: int) -> int:
    """One more than the highest version of the model."""
    return (latest_version(connection, model) or 0) + 1


def insert_version(connection: Connection, row: dict[str, Any]) -> None:
    """Insert a ``model_versions`` row and touch the model."""
    connection.execute(sa.insert(_mv).values(**row))
    connection.execute(
        sa.update(_rm).where(_rm.c.model_id == row["model_id"]).values(updated_at=row["created_at"])
    )


def aliases_of(connection: Connection, model: int) -> dict[str, int]:
    """``{alias: version}`` of a model."""
    query = sa.select(_al.c.alias, _al.c.version).where(_al.c.model_id == model)
    return {alias: int(version) for alias, version in connection.execute(query)}


def version_row(connection: Connection, model: int, version: int) -> dict[str, Any] | None:
    """The row of one version, or ``None``."""
    query = sa.select(_mv).where(_mv.c.model_id == model, _mv.c.version == version)
    row = connection.execute(query).mappings().first()
    return dict(row) if row is not None else None


def get_version(connection: Connection, name: str, version: int) -> ModelVersion:
    """Version ``version`` of model ``name``; ``NotFound`` names what exists."""
    model = model_id(connection, name)
    row = version_row(connection, model, version)
    if row is None:
        latest = next_version(connection, model) - 1
        raise NotFound(
            f"model {name!r} has no version {version}; its versions are 1..{latest}"
            if latest
            else f"model {name!r} has no versions yet"
        )
    return _build(connection, name, model, row)


def _build(connection: Connection, name: str, model: int, row: dict[str, Any]) -> ModelVersion:
    aliases = tuple(
        sorted(a for a, v in aliases_of(connection, model).items() if v == row["version"])
    )
    return version_from_row(row, name, aliases)


def list_versions(connection: Connection, name: str) -> list[ModelVersion]:
    """Every version of a model, newest first."""
    model = model_id(connection, name)
    query = sa.select(_mv).where(_mv.c.model_id == model).order_by(_mv.c.version.desc())
    aliases = aliases_of(connection, model)
    result = []
    for row in connection.execute(query).mappings():
        own = tuple(sorted(a for a, v in aliases.items() if v == row["version"]))
        result.append(version_from_row(dict(row), name, own))
    return result


def list_models(connection: Connection) -> list[dict[str, Any]]:
    """Every registered model with its version count, latest version and aliases."""
    counts = (
        sa.select(
            _mv.c.model_id,
            sa.func.count().label("versions"),
            sa.func.max(_mv.c.version).label("latest"),
        )
        .group_by(_mv.c.model_id)
        .subquery()
    )
    query = (
        sa.select(
            _rm.c.model_id,
            _rm.c.name,
            _rm.c.description,
            _rm.c.updated_at,
            counts.c.versions,
            counts.c.latest,
        )
        .select_from(_rm.outerjoin(counts, counts.c.model_id == _rm.c.model_id))
        .order_by(_rm.c.name)
    )
    models = []
    for row in connection.execute(query).mappings():
        models.append(
            {
                "name": row["name"],
                "description": row["description"],
                "versions": int(row["versions"] or 0),
                "latest": row["latest"],
                "aliases": aliases_of(connection, row["model_id"]),
                "updated_at": row["updated_at"],
            }
        )
    return models


def set_alias(connection: Connection, model: int, alias: str, version: int) -> None:
    """Point ``alias`` at ``version`` (insert or update)."""
    now = now_ms()
    updated = connection.execute(
        sa.update(_al)
        .where(_al.c.model_id == model, _al.c.alias == alias)
        .values(version=version, updated_at=now)
    )
    if updated.rowcount == 0:
        connection.execute(
            sa.insert(_al).values(model_id=model, alias=alias, version=version, updated_at=now)
        )
    Database.notify(connection, ALIAS_CHANNEL, str(model))


def delete_alias(connection: Connection, model: int, alias: str) -> None:
    """Remove ``alias``."""
    connection.execute(sa.delete(_al).where(_al.c.model_id == model, _al.c.alias == alias))
    Database.notify(connection, ALIAS_CHANNEL, str(model))


def record_event(
    connection: Connection,
    model: int,
    alias: str,
    action: str,
    versions: tuple[int | None, int | None],
    *,
    actor: str | None,
    forced: bool,
    reasons: list[str],
) -> None:
    """Append one alias event to the history."""
    connection.execute(
        sa.insert(_ah).values(
            model_id=model,
            alias=alias,
            from_version=versions[0],
            to_version=versions[1],
            action=action,
            actor=actor,
            forced=int(forced),
            reasons=json.dumps(reasons) if reasons else None,
            created_at=now_ms(),
        )
    )


def alias_events(connection: Connection, model: int, alias: str | None = None) -> list[AliasEvent]:
    """The alias history of a model, oldest first."""
    query = sa.select(_ah).where(_ah.c.model_id == model).order_by(_ah.c.event_id)
    if alias is not None:
        query = query.where(_ah.c.alias == alias)
    events = []
    for row in connection.execute(query).mappings():
        created = ms_to_datetime(row["created_at"])
        assert created is not None
        events.append(
            AliasEvent(
                alias=row["alias"],
                action=row["action"],
                from_version=row["from_version"],
                to_version=row["to_version"],
                actor=row["actor"],
                forced=bool(row["forced"]),
                reasons=tuple(json.loads(row["reasons"])) if row["reasons"] else (),
                created_at=created,
            )
        )
    return events


def ever_aliased(connection: Connection, model: int, version: int) -> bool:
    """Whether any alias ever pointed at the version (it is then kept for audit)."""
    query = sa.select(sa.func.count()).where(
        _ah.c.model_id == model, sa.or_(_ah.c.to_version == version, _ah.c.from_version == version)
    )
    return bool(connection.execute(query).scalar())


def set_status(connection: Connection, model: int, version: int, status: str) -> None:
    """Change a version's status."""
    connection.execute(
        sa.update(_mv)
        .where(_mv.c.model_id == model, _mv.c.version == version)
        .values(status=status)
    )


def delete_version(connection: Connection, model: int, version: int) -> None:
    """Remove a version row."""
    connection.execute(sa.delete(_mv).where(_mv.c.model_id == model, _mv.c.version == version))


def set_gates(connection: Connection, model: int, gates_json: str) -> None:
    """Store a model's gate configuration."""
    connection.execute(
        sa.update(_rm).where(_rm.c.model_id == model).values(gates=gates_json, updated_at=now_ms())
    )


def gates_json(connection: Connection, model: int) -> str | None:
    """A model's stored gate configuration."""
    return connection.execute(sa.select(_rm.c.gates).where(_rm.c.model_id == model)).scalar()


def set_description(connection: Connection, model: int, description: str) -> None:
    """Store a model's description (its intended use)."""
    connection.execute(
        sa.update(_rm).where(_rm.c.model_id == model).values(description=description)
    )


def description(connection: Connection, model: int) -> str | None:
    """A model's description."""
    return connection.execute(sa.select(_rm.c.description).where(_rm.c.model_id == model)).scalar()


def versions_on_dataset(connection: Connection, dataset_hash: str) -> list[tuple[str, int]]:
    """``(name, version)`` of versions trained (or tested) on a data set."""
    query = (
        sa.select(_rm.c.name, _mv.c.version)
        .select_from(_mv.join(_rm, _rm.c.model_id == _mv.c.model_id))
        .where(sa.or_(_mv.c.train_dataset == dataset_hash, _mv.c.test_dataset == dataset_hash))
        .order_by(_rm.c.name, _mv.c.version)
    )
    return [(name, int(version)) for name, version in connection.execute(query)]

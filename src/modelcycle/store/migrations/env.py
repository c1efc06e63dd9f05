"""Alembic environment: runs migrations on the connection modelcycle hands over.

modelcycle never reads ``alembic.ini``; :func:`modelcycle.store.upgrade` builds the
configuration in code and passes an open connection in ``config.attributes``.
"""

from __future__ import annotations

from alembic import context

from modelcycle.store._tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only for `alembic` run by hand
    raise RuntimeError("run migrations with 'modelcycle db upgrade', not the alembic command")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()

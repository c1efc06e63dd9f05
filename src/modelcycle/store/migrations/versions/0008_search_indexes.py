"""Indexes that keep the runs table fast at 100,000 runs (issue 14).

A filter or a sort on a metric reads ``latest_metrics`` through a covering
``(key, value, run_id)`` index (it replaces ``(key, value)``, which had to visit the
table for each run id). A filter on a param or a tag reads ``(key, value prefix,
run_id)``: the first 200 characters of the value, since a whole value (up to
``max_param_length``) could pass PostgreSQL's btree row limit.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

#: Must be the SQL of ``modelcycle.store._tables.value_prefix`` (literal bounds, so
#: PostgreSQL matches the indexed expression in a query).
_PREFIX = sa.text("substr(value, 1, 200)")


def upgrade() -> None:
    op.drop_index("ix_latest_metrics_key_value", table_name="latest_metrics")
    op.create_index("ix_latest_metrics_key_value_run", "latest_metrics", ["key", "value", "run_id"])
    op.create_index("ix_params_key_value_run", "params", ["key", _PREFIX, "run_id"])
    op.create_index("ix_tags_key_value_run", "tags", ["key", _PREFIX, "run_id"])


def downgrade() -> None:
    op.drop_index("ix_tags_key_value_run", table_name="tags")
    op.drop_index("ix_params_key_value_run", table_name="params")
    op.drop_index("ix_latest_metrics_key_value_run", table_name="latest_metrics")
    op.create_index("ix_latest_metrics_key_value", "latest_metrics", ["key", "value"])

"""Delayed labels: the feedback log, and predictions joined with the labels that arrived.

A label names its prediction by ``(request_id, row)`` or, without a request id, by
its inputs (the canonical sorted-key JSON the server logged): it then belongs to the
latest answered prediction with the same inputs at or before the label's time (an
ASOF join). When several labels reach one prediction, the latest wins. Everything
runs in DuckDB; only the labelled rows are decoded and returned.
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb
import pandas as pd

from modelcycle.monitoring._logread import ANSWERED_ROUTES, empty_predictions
from modelcycle.monitoring._logsql import (
    Filters,
    TimeLike,
    add_window,
    as_time,
    base_relation,
    connect,
    decode_inputs,
    has_segments,
    input_types,
    json_value,
    output_columns,
    positive,
    prediction_kind,
    probe_kind,
    to_frame,
)
from modelcycle.packaging import Signature
from modelcycle.store import FEEDBACK_SCHEMA, LogLayout

_FEEDBACK_COLUMNS = ", ".join(f'"{name}"' for name in FEEDBACK_SCHEMA.names if name != "model")


def read_feedback(layout: LogLayout, model: str) -> pd.DataFrame:
    """Every delayed label logged for ``model``, oldest first.

    Returns
    -------
    pandas.DataFrame
        Columns ``feedback_id, time, request_id, row, inputs, label, source``; ``label``
        and ``inputs`` are the logged JSON text. Empty (same columns) without segments.

    Examples
    --------
    >>> import tempfile
    >>> read_feedback(LogLayout.under(tempfile.mkdtemp()), "churn").columns.tolist()
    ['feedback_id', 'time', 'request_id', 'row', 'inputs', 'label', 'source']
    """
    folder = layout.feedback_of(model)
    with connect() as connection:
        if not has_segments(folder):
            empty = ", ".join(
                f"CAST(NULL AS {kind}) AS {name}"
                for name, kind in [
                    ("feedback_id", "VARCHAR"),
                    ("time", "TIMESTAMPTZ"),
                    ("request_id", "VARCHAR"),
                    ('"row"', "INTEGER"),
                    ("inputs", "VARCHAR"),
                    ("label", "VARCHAR"),
                    ("source", "VARCHAR"),
                ]
            )
            return to_frame(connection.sql(f"SELECT {empty} LIMIT 0"))
        source = base_relation(connection, folder, FEEDBACK_SCHEMA)
        return to_frame(
            connection.sql(f"SELECT {_FEEDBACK_COLUMNS} FROM {source} ORDER BY time, feedback_id")
        )


def count_feedback(layout: LogLayout, model: str, *, since: TimeLike | None = None) -> int:
    """How many labels were logged for ``model`` (at or after ``since``), counted in DuckDB.

    Cheap next to :func:`read_labelled` (no join with the prediction log), and an upper
    bound of the labelled rows predicted since then: a label arrives after its prediction.

    Examples
    --------
    >>> import tempfile
    >>> count_feedback(LogLayout.under(tempfile.mkdtemp()), "churn")
    0
    """
    folder = layout.feedback_of(model)
    if not has_segments(folder):
        return 0
    with connect() as connection:
        source = base_relation(connection, folder, FEEDBACK_SCHEMA)
        query, parameters = f"SELECT count(*) FROM {source}", []
        if since is not None:
            query += " WHERE time >= ?"
            parameters.append(as_time(since, "since"))
        found = connection.execute(query, parameters).fetchone()
    return int(found[0]) if found else 0


def read_labelled(
    layout: LogLayout,
    model: str,
    *,
    signature: Signature | None = None,
    versions: Iterable[int] | None = None,
    last_rows: int | None = None,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    inputs: bool = True,
) -> pd.DataFrame:
    """Answered predictions that received a delayed label, with the label.

    Parameters
    ----------
    layout, model, signature:
        As in :func:`read_predictions`.
    versions, since, until:
        Filter the predictions (by version and prediction time). Labels are matched
        against every answered prediction first, so a filter never makes a label
        match an older prediction with the same inputs.
    last_rows:
        Keep the most recent ``last_rows`` labelled rows by prediction time.
    inputs:
        Return the signature's inputs as columns (the default). ``False`` leaves them
        out, and the logged inputs are then read only to match labels sent with inputs
        instead of a request id: what realized performance needs, several times faster
        on a large log (the inputs are most of its bytes).

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`read_predictions` (without the inputs when ``inputs`` is
        false) plus ``label`` (decoded JSON, typed like the predictions) and
        ``label_time``, ordered by prediction time. Shadow rows and refused requests
        are never labelled. Empty (same columns) when either log has no segments.

    Examples
    --------
    >>> import tempfile
    >>> read_labelled(LogLayout.under(tempfile.mkdtemp()), "churn").columns[-2:].tolist()
    ['label', 'label_time']
    """
    predictions = layout.predictions_of(model)
    feedback = layout.feedback_of(model)
    specs = input_types(signature) if inputs else {}
    if not (has_segments(predictions) and has_segments(feedback)):
        return empty_predictions(specs).assign(
            label=pd.Series(dtype="str"), label_time=pd.Series(dtype="datetime64[ms, UTC]")
        )
    with connect() as connection:
        answered = (
            f"SELECT * FROM {base_relation(connection, predictions)} "
            f"WHERE route IN ('{ANSWERED_ROUTES[0]}', '{ANSWERED_ROUTES[1]}') AND error IS NULL"
        )
        labels = f"SELECT * FROM {base_relation(connection, feedback, FEEDBACK_SCHEMA)}"
        filters = Filters()
        add_window(filters, versions=versions, since=since, until=until, prefix="p.")
        kept = "p.*" if inputs else "p.* EXCLUDE (inputs)"
        joined = (
            f"SELECT {kept}, m.label, m.label_time FROM "
            f"({answered}) p JOIN ({_matches(connection, answered, labels)}) m "
            f'ON p.request_id = m.request_id AND p."row" = m."row" {filters.where}'
        )
        if last_rows is not None:
            limit = positive(last_rows, "last_rows")
            joined += f' ORDER BY p.time DESC, p.request_id DESC, p."row" DESC LIMIT {limit}'
        # Only the labelled rows are kept (small next to the log): type and decode them there.
        connection.execute(f"CREATE TEMP TABLE labelled AS {joined}", filters.params)
        kind = prediction_kind(signature) or probe_kind(
            connection,
            "SELECT prediction AS value FROM labelled UNION ALL SELECT label FROM labelled",
            [],
        )
        query = (
            f"SELECT {output_columns(specs, kind)}, {json_value('label', kind)} AS label, "
            "label_time FROM ("
            + decode_inputs("SELECT * FROM labelled", specs)
            + ') ORDER BY time, request_id, "row"'
        )
        return to_frame(connection.sql(query))


def _matches(connection: duckdb.DuckDBPyConnection, answered: str, labels: str) -> str:
    """SQL of ``(request_id, row, label, label_time)``: the winning label of each prediction."""
    matches = [
        'SELECT p.request_id, p."row", f.label, f.time AS label_time, f.feedback_id '
        f"FROM ({labels}) f JOIN ({answered}) p "
        'ON f.request_id = p.request_id AND f."row" = p."row"'
    ]
    by_inputs = f"SELECT * FROM ({labels}) WHERE request_id IS NULL AND inputs IS NOT NULL"
    found = connection.sql(f"SELECT count(*) FROM ({by_inputs})").fetchall()[0][0]
    if found:  # the ASOF join reads every logged input: only when needed
        matches.append(
            'SELECT p.request_id, p."row", f.label, f.time AS label_time, f.feedback_id '
            f"FROM ({by_inputs}) f ASOF JOIN ({answered}) p "
            "ON f.inputs = p.inputs AND f.time >= p.time"
        )
    return (
        f'SELECT request_id, "row", label, label_time FROM ({" UNION ALL ".join(matches)}) '
        'QUALIFY row_number() OVER (PARTITION BY request_id, "row" '
        "ORDER BY label_time DESC, feedback_id DESC) = 1"
    )

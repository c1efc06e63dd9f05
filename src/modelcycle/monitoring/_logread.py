"""Reading the prediction log with DuckDB: filtered, the latest rows, inputs decoded by type.

Every query runs in a fresh in-memory DuckDB over the model's Parquet segments
(``read_parquet(..., union_by_name=true)``), so filtering, ordering, the row limit and
the decoding of the ``inputs`` JSON (one ``from_json`` per row, typed by the model's
signature) happen in DuckDB's vectorised engine, not in Python row by row. A window of
ten million rows is read in well under a minute on two cores (see
``benchmarks/monitor_10m.py``); ``sample_rows`` reads a uniform, repeatable sample of a
window instead, chosen before any input is decoded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from modelcycle.core import ValidationError
from modelcycle.monitoring._logsql import (
    Filters,
    TimeLike,
    add_cutoff,
    add_sample,
    add_window,
    base_relation,
    connect,
    decode_inputs,
    has_segments,
    identifier,
    input_types,
    output_columns,
    placeholders,
    positive,
    prediction_kind,
    probe_kind,
    to_frame,
)
from modelcycle.packaging import Signature
from modelcycle.store import LogLayout

#: Routes whose rows answered callers (``shadow`` rows only repeat a request for comparison).
ANSWERED_ROUTES = ("primary", "canary")
_ROUTES = ("primary", "canary", "shadow")
_SEED = 0


def read_predictions(
    layout: LogLayout,
    model: str,
    *,
    signature: Signature | None = None,
    versions: Iterable[int] | None = None,
    last_rows: int | None = None,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    routes: Sequence[str] = ANSWERED_ROUTES,
    include_errors: bool = False,
    sample_rows: int | None = None,
    seed: int = _SEED,
) -> pd.DataFrame:
    """Read a window of a model's prediction log as a DataFrame, one row per predicted row.

    Parameters
    ----------
    layout:
        The workspace's log layout (``services.layout``); the log is
        ``<root>/predictions/<model>/*.parquet``.
    model:
        The model name.
    signature:
        The model's signature: each of its inputs becomes a typed column decoded from
        the logged JSON (numbers as float, booleans as bool, other types as text; a
        missing key or a value of another type gives a missing value). Sensitive
        inputs were hashed or dropped by the server and come back as text or missing.
        A signature input named like a log column is returned as ``inputs.<name>``.
    versions:
        Keep only these model versions.
    last_rows:
        Keep only the most recent ``last_rows`` rows by time (after the other filters).
    since, until:
        Keep rows logged at or after ``since`` and before ``until`` (datetimes, ISO
        text or milliseconds since the epoch; naive datetimes are UTC).
    routes:
        Routes to keep (``primary``, ``canary``, ``shadow``).
    include_errors:
        Keep refused requests (``error`` set, no inputs or prediction).
    sample_rows:
        Read a uniform sample of this many rows of the window (all of them when it
        has fewer): the way to analyse a window too large to decode whole. The rows
        are those with the smallest seeded hash of ``(request_id, row)``, chosen in
        DuckDB before any input is decoded, so the same window and seed give the
        same rows (steady drift statistics from one check to the next).
    seed:
        Seed of the sample's hash.

    Returns
    -------
    pandas.DataFrame
        Columns ``request_id, row, time, version, route, latency_ms, prediction,
        probabilities, error`` and one per signature input, ordered by time.
        ``prediction`` is decoded from JSON (numbers or text); ``probabilities`` holds
        a list per row (class order of the signature) or a missing value. Without
        segments the frame is empty (same columns).

    Examples
    --------
    >>> import tempfile
    >>> read_predictions(LogLayout.under(tempfile.mkdtemp()), "churn").columns[:4].tolist()
    ['request_id', 'row', 'time', 'version']
    """
    folder = layout.predictions_of(model)
    specs = input_types(signature)
    check_routes(routes)
    if not has_segments(folder):
        return empty_predictions(specs)
    filters = Filters()
    filters.add(f"route IN ({placeholders(routes)})", *routes)
    if not include_errors:
        filters.add("error IS NULL")
    add_window(filters, versions=versions, since=since, until=until)
    with connect() as connection:
        source = base_relation(connection, folder)
        prediction = prediction_kind(signature) or probe_kind(
            connection, f"SELECT prediction AS value FROM {source} {filters.where}", filters.params
        )
        if last_rows is not None:
            add_cutoff(connection, source, filters, positive(last_rows, "last_rows"))
        if sample_rows is not None:
            add_sample(connection, source, filters, positive(sample_rows, "sample_rows"), seed)
        picked = f"SELECT * FROM {source} {filters.where}"
        query = (
            f"SELECT {output_columns(specs, prediction)} FROM ({decode_inputs(picked, specs)}) "
            'ORDER BY time, request_id, "row"'
        )
        return to_frame(connection.sql(query, params=filters.params))


def empty_predictions(specs: dict[str, str]) -> pd.DataFrame:
    """An empty :func:`read_predictions` frame with the usual columns and dtypes."""
    with connect() as connection:
        columns = ", ".join(
            [
                "CAST(NULL AS VARCHAR) AS request_id",
                'CAST(NULL AS INTEGER) AS "row"',
                "CAST(NULL AS TIMESTAMPTZ) AS time",
                "CAST(NULL AS BIGINT) AS version",
                "CAST(NULL AS VARCHAR) AS route",
                "CAST(NULL AS DOUBLE) AS latency_ms",
                "CAST(NULL AS VARCHAR) AS prediction",
                "CAST(NULL AS DOUBLE[]) AS probabilities",
                "CAST(NULL AS VARCHAR) AS error",
            ]
            + [f"CAST(NULL AS {kind}) AS {identifier(name)}" for name, kind in specs.items()]
        )
        return to_frame(connection.sql(f"SELECT {columns} LIMIT 0"))


def probability_matrix(probabilities: pd.Series, n_classes: int | None = None) -> np.ndarray:
    """The ``probabilities`` column as an ``(n, k)`` float array (missing rows are NaN).

    Examples
    --------
    >>> probability_matrix(pd.Series([[0.2, 0.8], None, [0.6, 0.4]])).tolist()
    [[0.2, 0.8], [nan, nan], [0.6, 0.4]]
    """
    array = pa.array(probabilities.array, type=pa.list_(pa.float64()), from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    lengths = array.value_lengths().fill_null(0).to_numpy(zero_copy_only=False)
    k = n_classes if n_classes is not None else int(lengths.max(initial=0))
    out = np.full((len(array), k), np.nan)
    full = lengths == k
    if k and full.any():
        values = array.filter(pa.array(full)).flatten().to_numpy(zero_copy_only=False)
        out[full] = values.reshape(-1, k)
    return out


def check_routes(routes: Sequence[str]) -> None:
    unknown = sorted(set(routes) - set(_ROUTES))
    if isinstance(routes, str) or unknown or not routes:
        raise ValidationError(
            f"routes={routes!r} is not a list of routes; expected some of {list(_ROUTES)}"
        )

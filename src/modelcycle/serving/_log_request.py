"""One request's rows of the prediction log, and one model's rows of a flush.

A :class:`LoggedRequest` is what the service appends; the writer thread turns each
into rows (small requests) or an Arrow table (large ones, a column at a time) and
gathers them per model in a :class:`Segment`. A request whose rows cannot all be
encoded (text with a lone surrogate, an integer past 64 bits, a model that answered
fewer rows than it was sent) is taken row by row: only the rows that cannot be
encoded are left out, and the segment counts them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from modelcycle.serving._encode import as_lists
from modelcycle.serving._log_columns import (
    ARROW_MIN_ROWS,
    epoch_ms,
    inputs_chunk,
    inputs_texts,
    json_texts,
    value_json,
)
from modelcycle.serving._model import as_rows
from modelcycle.serving._privacy import Redactor
from modelcycle.store import PREDICTION_SCHEMA, inputs_json

#: What encoding one row's values can raise (a lone surrogate, a 65-bit integer, a
#: value Arrow refuses, a model that answered fewer rows than it was sent).
ENCODING_ERRORS: tuple[type[Exception], ...] = (
    TypeError,
    ValueError,
    LookupError,
    OverflowError,
    pa.ArrowException,
)


@dataclass(frozen=True)
class LoggedRequest:
    """One answered or refused request, as the route saw it (expanded to rows when written).

    A refused request has ``error`` set (its error code) and no predictions; it is
    written as one row with empty inputs, prediction and probabilities.
    """

    request_id: str
    time: datetime
    model: str
    version: int
    inputs: list[dict[str, Any]] | dict[str, list[Any]] | None
    predictions: NDArray[Any] | None
    probabilities: NDArray[np.float64] | None
    latency_ms: float
    route: str = "primary"
    sensitive: frozenset[str] = frozenset()
    error: str | None = None

    @property
    def answered(self) -> bool:
        """Whether the request was answered (it then has inputs and predictions)."""
        return self.error is None and self.inputs is not None and self.predictions is not None

    @property
    def n_rows(self) -> int:
        """Rows this request takes in the log (one for a refused request)."""
        if not self.answered or not self.inputs:
            return 1
        if isinstance(self.inputs, list):
            return len(self.inputs)
        return len(next(iter(self.inputs.values())))

    def rows(self, redactor: Redactor | None = None) -> list[dict[str, Any]]:
        """One log row per predicted input row (sensitive inputs hashed or dropped)."""
        if not self.answered or self.predictions is None:
            return [self._row(None, None, None, None)]
        rows = self._input_rows(redactor)
        values = as_lists(self.predictions)
        if len(rows) == 1:  # most requests: one orjson call each is cheapest
            inputs, predictions = [inputs_json(rows[0])], [value_json(values[0])]
        else:
            inputs, predictions = inputs_texts(rows), json_texts(values)
        probabilities = self.probabilities.tolist() if self.probabilities is not None else None
        return [
            self._row(
                index,
                inputs[index],
                predictions[index],
                probabilities[index] if probabilities is not None else None,
            )
            for index in range(len(rows))
        ]

    def table(self, redactor: Redactor | None = None) -> pa.Table:
        """The rows of :meth:`rows` as an Arrow table, built a column at a time.

        Much cheaper than :meth:`rows` for a large request: one orjson call and Arrow
        cut the inputs into rows, the rest are whole-column conversions.
        """
        if not self.answered or self.predictions is None:
            return pa.Table.from_pylist(self.rows(), schema=PREDICTION_SCHEMA)
        rows = self._input_rows(redactor)
        n_rows = len(rows)
        probabilities = self.probabilities
        columns = {
            "request_id": pa.repeat(self.request_id, n_rows),
            "time": pa.array([epoch_ms(self.time)] * n_rows, PREDICTION_SCHEMA.field("time").type),
            "model": pa.repeat(self.model, n_rows),
            "version": pa.repeat(self.version, n_rows),
            "row": pa.array(range(n_rows), pa.int32()),
            "inputs": inputs_chunk(rows),
            "prediction": json_texts(as_lists(self.predictions)),
            "probabilities": (
                probabilities.tolist() if probabilities is not None else [None] * n_rows
            ),
            "latency_ms": pa.repeat(self.latency_ms, n_rows),
            "route": pa.repeat(self.route, n_rows),
            "error": pa.nulls(n_rows, pa.string()),
        }
        return pa.table(columns, schema=PREDICTION_SCHEMA)

    def rows_one_by_one(self, redactor: Redactor | None = None) -> tuple[list[dict[str, Any]], int]:
        """The rows of :meth:`rows`, each encoded alone: those that cannot be are left out.

        Returns the rows encoded and how many were left out.
        """
        if not self.answered or self.predictions is None:
            return self.rows(), 0
        try:
            rows = self._input_rows(None)
        except ENCODING_ERRORS:
            return [], self.n_rows
        kept = []
        for index, row in enumerate(rows):
            try:
                kept.append(self._encoded_row(index, row, redactor))
            except ENCODING_ERRORS:
                continue
        return kept, len(rows) - len(kept)

    def _encoded_row(
        self, index: int, row: dict[str, Any], redactor: Redactor | None
    ) -> dict[str, Any]:
        assert self.predictions is not None
        if redactor is not None and self.sensitive:
            row = redactor.row(row, self.sensitive)
        probabilities = self.probabilities
        built = self._row(
            index,
            inputs_json(row),
            value_json(self.predictions[index]),
            probabilities[index].tolist() if probabilities is not None else None,
        )
        pa.Table.from_pylist([built], schema=PREDICTION_SCHEMA)  # Arrow takes it too
        return built

    def _input_rows(self, redactor: Redactor | None) -> list[dict[str, Any]]:
        inputs = self.inputs or []
        rows = inputs if isinstance(inputs, list) else as_rows(inputs)
        if redactor is not None and self.sensitive:
            return [redactor.row(row, self.sensitive) for row in rows]
        return rows

    def _row(
        self, index: int | None, inputs: str | None, prediction: str | None, proba: Any
    ) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "time": self.time,
            "model": self.model,
            "version": self.version,
            "row": index,
            "inputs": inputs,
            "prediction": prediction,
            "probabilities": proba,
            "latency_ms": self.latency_ms,
            "route": self.route,
            "error": self.error,
        }


class Segment:
    """One model's log rows of a flush, in append order: small requests as rows, large
    ones as Arrow tables (see :meth:`LoggedRequest.table`).

    A request whose rows cannot all be encoded is added row by row, leaving out the
    rows that cannot be; :attr:`dropped` counts them.
    """

    def __init__(self, redactor: Redactor | None = None) -> None:
        self.redactor = redactor
        self.n_rows = 0
        self.dropped = 0
        self._parts: list[list[dict[str, Any]] | pa.Table] = []

    def add(self, request: LoggedRequest) -> None:
        """Append one request's rows."""
        try:
            part = (
                request.table(self.redactor)
                if request.n_rows >= ARROW_MIN_ROWS
                else request.rows(self.redactor)
            )
        except ENCODING_ERRORS:
            part, dropped = request.rows_one_by_one(self.redactor)
            self.dropped += dropped
        self.n_rows += len(part)
        if isinstance(part, list) and self._parts and isinstance(self._parts[-1], list):
            self._parts[-1] += part
        elif len(part):
            self._parts.append(part)

    def table(self) -> pa.Table:
        """Every row added, as one table of the prediction log's schema."""
        tables = [self._rows(part) if isinstance(part, list) else part for part in self._parts]
        return pa.concat_tables(tables) if tables else PREDICTION_SCHEMA.empty_table()

    def _rows(self, rows: list[dict[str, Any]]) -> pa.Table:
        try:
            return pa.Table.from_pylist(rows, schema=PREDICTION_SCHEMA)
        except ENCODING_ERRORS:  # find the row Arrow refuses; keep the others
            kept = []
            for row in rows:
                try:
                    kept.append(pa.Table.from_pylist([row], schema=PREDICTION_SCHEMA))
                except ENCODING_ERRORS:
                    self.dropped += 1
                    self.n_rows -= 1
            return pa.concat_tables(kept) if kept else PREDICTION_SCHEMA.empty_table()

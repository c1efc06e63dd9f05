"""``modelcycle feedback``: record delayed labels from a CSV or Parquet file.

Each row names a prediction by its request id (and row within the request), or,
when the file has no request id column, by its inputs (every column but the label,
checked against the version's signature). Rows are checked by the same
:class:`~modelcycle.serving.FeedbackValidator` as ``POST /v1/models/{ref}/feedback``
and written as one feedback-log segment, atomically.
"""

from __future__ import annotations

import csv
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import orjson
import typer

from modelcycle.cli import _output as out
from modelcycle.cli._context import state
from modelcycle.core import ValidationError, WorkspaceError

if TYPE_CHECKING:
    from modelcycle.packaging import Signature
    from modelcycle.serving._feedback import FeedbackProblem
    from modelcycle.store import LogLayout


class LabelFile:
    """A labels file read into items for the validator, with positions and column names.

    CSV cells are read as text and turned into what a JSON request would carry: inputs
    by their signature type (``long`` as whole numbers, ``double`` as floats, ``boolean``
    from true/false), a regressor's labels as numbers, class labels as written (they
    match a class by text); an empty cell is missing. A cell that does not convert stays
    text, for the validator to refuse by name. Parquet cells keep their types.

    Parameters
    ----------
    source:
        The ``.csv`` or ``.parquet`` file.
    label_column, request_id_column, row_column:
        Where the label, the request id and the row within the request are.
        ``request_id_column=None``: ``request_id`` when the file has it, else the
        rows are identified by their inputs.
    """

    def __init__(
        self,
        source: Path,
        *,
        label_column: str,
        request_id_column: str | None,
        row_column: str,
    ) -> None:
        self.source = source
        self.label_column = label_column
        self.request_id_column = request_id_column
        self.row_column = row_column
        self.columns: list[str] = []
        self.lines: list[int] = []
        self.by_request = False

    @property
    def is_csv(self) -> bool:
        """Whether the file is CSV (positions are then line numbers)."""
        return self.source.suffix.lower() == ".csv"

    def read(self, signature: Signature, *, numeric_labels: bool) -> list[dict[str, Any]]:
        """The file's rows as label items (``request_id``/``row`` or ``inputs``, and ``label``)."""
        rows = self._csv(signature, numeric_labels) if self.is_csv else self._parquet()
        self._check_columns()
        if not rows:
            raise ValidationError(f"{self.source} has no rows; expected one label per row")
        if self.by_request:
            return [self._request_item(row) for row in rows]
        return [self._inputs_item(row) for row in rows]

    def _parquet(self) -> list[dict[str, Any]]:
        import pyarrow.parquet as pq

        if self.source.suffix.lower() != ".parquet":
            raise ValidationError(
                f"cannot read labels from {str(self.source)!r}; expected a .csv or .parquet file"
            )
        table = pq.read_table(self.source)
        self.columns = list(table.column_names)
        return [{k: _json_value(v) for k, v in row.items()} for row in table.to_pylist()]

    def _csv(self, signature: Signature, numeric_labels: bool) -> list[dict[str, Any]]:
        types = {spec.name: spec.type for spec in signature.inputs}
        rows: list[dict[str, Any]] = []
        with open(self.source, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            self.columns = list(reader.fieldnames or [])
            for record in reader:
                if None in record:  # DictReader keeps cells past the header under None
                    raise ValidationError(
                        f"{self.source} line {reader.line_num} has more cells than the "
                        f"header's {len(self.columns)} columns {self.columns}"
                    )
                self.lines.append(reader.line_num)
                rows.append(
                    {
                        name: self._cell(name, text, types, numeric_labels)
                        for name, text in record.items()
                        if name is not None
                    }
                )
        return rows

    def _cell(
        self, name: str, text: str | None, types: dict[str, str], numeric_labels: bool
    ) -> Any:
        if text is None or text == "":
            return None
        if name == self.label_column:
            return _number(text, float) if numeric_labels else text
        if name == self.row_column and name not in types:
            return _number(text, int)
        return _typed(text, types.get(name, "string"))

    def _check_columns(self) -> None:
        if self.label_column not in self.columns:
            raise ValidationError(
                f"{self.source} has no label column {self.label_column!r} (columns: "
                f"{self.columns}); name it with --label-column"
            )
        wanted = self.request_id_column
        if wanted is not None and wanted not in self.columns:
            raise ValidationError(
                f"{self.source} has no request id column {wanted!r} (columns: {self.columns}); "
                "name it with --request-id-column, or leave it out to match labels by inputs"
            )
        self.by_request = (wanted or "request_id") in self.columns
        if self.by_request:
            self.request_id_column = wanted or "request_id"

    def _request_item(self, row: dict[str, Any]) -> dict[str, Any]:
        request_id = row[self.request_id_column or ""]
        item = {"request_id": str(request_id) if request_id is not None else None}
        item["label"] = row[self.label_column]
        if self.row_column in row:
            item["row"] = row[self.row_column]
        return item

    def _inputs_item(self, row: dict[str, Any]) -> dict[str, Any]:
        inputs = {name: value for name, value in row.items() if name != self.label_column}
        return {"inputs": inputs, "label": row[self.label_column]}

    @property
    def ignored(self) -> list[str]:
        """Columns a request-id file has besides the id, row and label (not used)."""
        if not self.by_request:
            return []
        used = {self.request_id_column, self.row_column, self.label_column}
        return [name for name in self.columns if name not in used]

    def where(self, item: int) -> str:
        """``labels.csv line 7`` (CSV lines count the header) or ``labels.parquet row 6``."""
        if self.is_csv:
            return f"{self.source} line {self.lines[item]}"
        return f"{self.source} row {item + 1}"

    def column(self, field: str) -> str:
        """The file column a validator field comes from."""
        if field.startswith("inputs."):
            return field.removeprefix("inputs.")
        named = {
            "label": self.label_column,
            "request_id": self.request_id_column or "request_id",
            "row": self.row_column,
        }
        return named.get(field, field)


_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}


def _number(text: str, kind: type[int] | type[float]) -> Any:
    try:
        return kind(text)
    except ValueError:
        return text


def _typed(text: str, kind: str) -> Any:
    """A CSV cell as the JSON value a request would carry for an input of type ``kind``."""
    if kind == "long":
        whole = _number(text, int)
        return whole if isinstance(whole, int) else _number(text, float)
    if kind == "double":
        return _number(text, float)
    if kind == "boolean":
        return _BOOLEANS.get(text.strip().lower(), text)
    return text


def _json_value(value: Any) -> Any:
    """Parquet dates and times as the ISO 8601 text a prediction request carries."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _problem_text(labels: LabelFile, problem: FeedbackProblem) -> str:
    return (
        f"{labels.where(problem.item)}, column {labels.column(problem.field)!r}: got "
        f"{problem.value!r}; expected {problem.expected}"
    )


def _refuse(labels: LabelFile, problems: list[FeedbackProblem], rejects: Path) -> ValidationError:
    more = f" (and {len(problems) - 1} more bad rows)" if len(problems) > 1 else ""
    first = problems[0]
    return ValidationError(
        f"{_problem_text(labels, first)}{more}; nothing was recorded. Fix the file, or pass "
        f"--skip-invalid to record the good rows and write the bad ones to {rejects}",
        details={
            "file": str(labels.source),
            "position": labels.where(first.item),
            "column": labels.column(first.field),
            "value": first.value,
            "expected": first.expected,
            "bad_rows": len(problems),
        },
    )


def _write_rejects(
    path: Path,
    labels: LabelFile,
    problems: list[FeedbackProblem],
    items: list[dict[str, Any]],
) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["position", "column", "reason", "values"])
        for problem in problems:
            values = orjson.dumps(items[problem.item], default=str).decode()
            reason = f"got {problem.value!r}; expected {problem.expected}"
            writer.writerow(
                [labels.where(problem.item), labels.column(problem.field), reason, values]
            )


def feedback(
    ctx: typer.Context,
    model: Annotated[
        str,
        typer.Argument(help="Model: 'name' (its champion), 'name@alias' or 'name/version'."),
    ],
    source: Annotated[
        Path,
        typer.Argument(help="Labels: a .csv or .parquet file.", exists=True, dir_okay=False),
    ],
    request_id_column: Annotated[
        str | None,
        typer.Option(
            help="Column of prediction request ids (default: 'request_id' when present; "
            "without one, every column but the label is an input)."
        ),
    ] = None,
    row_column: Annotated[
        str, typer.Option(help="Column of the row within each request (0 when absent).")
    ] = "row",
    label_column: Annotated[str, typer.Option(help="Column of the true labels.")] = "label",
    skip_invalid: Annotated[
        bool,
        typer.Option(
            "--skip-invalid",
            help="Record the good rows; write the bad ones with reasons to --rejects.",
        ),
    ] = False,
    rejects: Annotated[
        Path | None,
        typer.Option(help="CSV of rejected rows with reasons (default: <file>.rejects.csv)."),
    ] = None,
    sensitive_inputs: Annotated[
        str,
        typer.Option(help="Sensitive inputs, as the server logs them: 'hash' (salted) or 'drop'."),
    ] = "hash",
) -> None:
    """Record delayed labels (true targets of earlier predictions) from a file."""
    from modelcycle.serving._feedback import FeedbackValidator, feedback_table
    from modelcycle.serving._privacy import Redactor, workspace_salt
    from modelcycle.store import write_segment

    if sensitive_inputs not in ("hash", "drop"):
        raise ValidationError(
            f"--sensitive-inputs {sensitive_inputs!r} is not known; expected 'hash' or 'drop'"
        )
    mode: Literal["hash", "drop"] = "hash" if sensitive_inputs == "hash" else "drop"
    ws = state(ctx).open()
    version = ws.registry.resolve(model)
    labels = LabelFile(
        source,
        label_column=label_column,
        request_id_column=request_id_column,
        row_column=row_column,
    )
    validator = FeedbackValidator(version.signature)
    items = labels.read(version.signature, numeric_labels=validator.regressor)
    good, problems = validator.validate(items)
    reject_file = rejects or source.with_name(source.stem + ".rejects.csv")
    if problems and not skip_invalid:
        raise _refuse(labels, problems, reject_file)
    if problems:
        _write_rejects(reject_file, labels, problems, items)
    if labels.ignored:
        out.err_console.print(f"ignored columns {labels.ignored} (not used with request ids)")
    written = "nothing written"
    if good:
        table = feedback_table(
            good,
            model=version.name,
            source="file",
            sensitive=validator.sensitive,
            redactor=Redactor(mode, workspace_salt(ws.settings.home)),
        )
        layout = ws.services.layout
        segment = write_segment(layout.staging.feedback_of(version.name), table)
        written = f"written to {segment}"
        if layout.remote is not None:
            written = _publish(layout)
    rejected = f"; {len(problems)} rejected (see {reject_file})" if problems else ""
    out.console.print(
        f"recorded {len(good)} label(s) for {version.name} (checked against version "
        f"{version.version}), {written}{rejected}",
        highlight=False,
        soft_wrap=True,
    )


def _publish(layout: LogLayout) -> str:
    """Upload the staged labels (logs in an object store); say where they are."""
    try:
        layout.publish_feedback()
    except WorkspaceError as exc:  # the labels are safe in staging: no retry needed
        out.err_console.print(
            f"warning: {exc}. The labels stay staged in {layout.staging.feedback} and are "
            "published by the next 'modelcycle feedback' or server using this workspace folder",
            style="yellow",
            highlight=False,
        )
        return f"staged in {layout.staging.feedback}"
    return f"published to {layout.location}"

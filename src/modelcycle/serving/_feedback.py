"""Delayed labels, checked the same way for the feedback endpoint and ``modelcycle feedback``.

A label names the prediction it belongs to either by ``request_id`` (and ``row``, the
row within that request, 0 by default) or by the prediction's ``inputs``, checked
against the version's signature like a predict row. Inputs are stored as the
prediction log stores them (sensitive fields hashed or dropped by the same
:class:`~modelcycle.serving.Redactor`, keys sorted), so a label finds its prediction
by equal text. The label must fit the model: one of a classifier's classes (``"1"``
matches class ``1``: a label whose value or text equals a class is stored as that
class), or a finite number for a regressor.

Every problem names the item, the field, the value and what was expected; a request
is accepted whole or not at all.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from modelcycle.core import Task, ValidationError
from modelcycle.packaging import Signature
from modelcycle.serving._encode import json_text, quoted
from modelcycle.serving._errors import PayloadTooLarge
from modelcycle.serving._hub import ModelHub
from modelcycle.serving._log import FeedbackLog
from modelcycle.serving._metrics import ServingMetrics
from modelcycle.serving._privacy import Redactor
from modelcycle.serving._validate import MAX_REPORTED, InputValidator, shown_value
from modelcycle.store import FEEDBACK_SCHEMA, inputs_json

#: The fields a label item may have.
ITEM_FIELDS = ("request_id", "row", "inputs", "label")
#: Longest accepted request id.
MAX_REQUEST_ID = 256


@dataclass(frozen=True)
class FeedbackProblem:
    """Why one label item was refused."""

    item: int
    field: str
    value: Any
    expected: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for error details and reject files)."""
        return {
            "item": self.item,
            "field": self.field,
            "value": self.value,
            "expected": self.expected,
        }

    def describe(self) -> str:
        """``field 'label': got 'maybe'; expected one of the model's classes [0, 1]``."""
        return f"field {quoted(self.field)}: got {self.value!r}; expected {self.expected}"


@dataclass(frozen=True)
class Label:
    """One checked label: which prediction it is for and the true target (a class value)."""

    request_id: str | None
    row: int | None
    inputs: dict[str, Any] | None
    label: Any


def _label_text(value: Any) -> str | None:
    """The text a label is matched by (``1``, ``1.0`` and ``"1"`` all give ``"1"``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | str):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return None


class _ClassLabels:
    """Matches labels to a classifier's classes."""

    def __init__(self, classes: Sequence[Any]) -> None:
        self.classes = tuple(classes)
        self.by_text: dict[str, Any] = {}
        for value in self.classes:
            for text in (_label_text(value), str(value)):
                if text is not None:
                    self.by_text.setdefault(text, value)
        shown = list(self.classes[:20]) + (["..."] if len(self.classes) > 20 else [])
        self.expected = f"one of the model's classes {shown}"

    def __call__(self, value: Any) -> tuple[Any, str | None]:
        for known in self.classes:
            if type(known) is type(value) and known == value:
                return known, None
        text = _label_text(value)
        if text is not None and text in self.by_text:
            return self.by_text[text], None
        if isinstance(value, str):  # "1.0" for class 1
            number = _number_in(value)
            if number is not None and _label_text(number) in self.by_text:
                return self.by_text[str(_label_text(number))], None
        return None, self.expected


def _number_in(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _any_class(value: Any) -> tuple[Any, str | None]:
    if isinstance(value, str | bool | int) or (isinstance(value, float) and math.isfinite(value)):
        return value, None
    return None, "a class label (a string, number or boolean)"


def _target_number(value: Any) -> tuple[Any, str | None]:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None, "a finite number (the model is a regressor)"
    if isinstance(value, float) and not math.isfinite(value):
        return None, "a finite number (the model is a regressor)"
    return value, None


class FeedbackValidator:
    """Checks delayed labels against a model version's signature and classes.

    Parameters
    ----------
    signature:
        The version's signature (inputs, task and classes).
    classes:
        The classifier's classes (default: the signature's).
    max_items:
        Most labels accepted at once (413 beyond); ``None``: no limit.
    input_validator:
        Checks ``inputs`` items (default: one built from ``signature``).

    Attributes
    ----------
    regressor:
        Whether labels are numbers (else class labels).

    Examples
    --------
    >>> from modelcycle.core import Task
    >>> from modelcycle.packaging import InputSpec, Signature
    >>> signature = Signature((InputSpec("age", "long"),), task=Task.BINARY, classes=(0, 1))
    >>> labels, problems = FeedbackValidator(signature).validate(
    ...     [{"request_id": "ab12", "label": "1"}, {"inputs": {"age": 41}, "label": "maybe"}]
    ... )
    >>> labels[0].label, problems[0].item, problems[0].field
    (1, 1, 'label')
    """

    def __init__(
        self,
        signature: Signature,
        *,
        classes: Sequence[Any] | None = None,
        max_items: int | None = None,
        input_validator: InputValidator | None = None,
    ) -> None:
        self.signature = signature
        self.max_items = max_items
        self.inputs = input_validator or InputValidator(signature, max_rows=1)
        self.sensitive = frozenset(spec.name for spec in signature.inputs if spec.sensitive)
        known = tuple(classes) if classes is not None else signature.classes
        self.regressor = signature.task is Task.REGRESSION or (
            signature.task is None and known is None
        )
        if self.regressor:
            self._label = _target_number
        elif known is not None:
            self._label = _ClassLabels(known)
        else:
            self._label = _any_class

    def validate(
        self, items: Sequence[Mapping[str, Any]]
    ) -> tuple[list[Label], list[FeedbackProblem]]:
        """The good labels (in order) and one problem per bad item."""
        labels: list[Label] = []
        problems: list[FeedbackProblem] = []
        for index, item in enumerate(items):
            found = self.check(index, item)
            if isinstance(found, FeedbackProblem):
                problems.append(found)
            else:
                labels.append(found)
        return labels, problems

    def check(self, index: int, item: Mapping[str, Any]) -> Label | FeedbackProblem:
        """Item ``index`` as a :class:`Label`, or the first problem found in it."""
        unknown = sorted(set(item) - set(ITEM_FIELDS))
        if unknown:
            expected = f"only the fields {list(ITEM_FIELDS)}"
            return FeedbackProblem(index, unknown[0], shown_value(item[unknown[0]]), expected)
        request_id, inputs = item.get("request_id"), item.get("inputs")
        if request_id is not None and inputs is not None:
            expected = "either a request_id (with its row) or the inputs, not both"
            return FeedbackProblem(index, "inputs", "<object>", expected)
        if request_id is not None:
            found = self._by_request(index, request_id, item.get("row"))
        elif inputs is not None:
            found = self._by_inputs(index, inputs, item.get("row"))
        else:
            expected = "the request_id of the prediction (with its row), or its inputs"
            return FeedbackProblem(index, "request_id", None, expected)
        if isinstance(found, FeedbackProblem):
            return found
        label, expected_label = self._label(item.get("label"))
        if expected_label is not None:
            return FeedbackProblem(index, "label", shown_value(item.get("label")), expected_label)
        return Label(found.request_id, found.row, found.inputs, label)

    def _by_request(self, index: int, request_id: Any, row: Any) -> Label | FeedbackProblem:
        if not isinstance(request_id, str) or not 0 < len(request_id) <= MAX_REQUEST_ID:
            expected = f"the request_id of a prediction (a string of 1 to {MAX_REQUEST_ID} chars)"
            return FeedbackProblem(index, "request_id", shown_value(request_id), expected)
        if row is None:
            row = 0
        if isinstance(row, bool) or not isinstance(row, int) or not 0 <= row < 2**31:
            expected = "the row within that request: a whole number from 0"
            return FeedbackProblem(index, "row", shown_value(row), expected)
        return Label(request_id, row, None, None)

    def _by_inputs(self, index: int, inputs: Any, row: Any) -> Label | FeedbackProblem:
        if row is not None:
            expected = "no row with inputs (row picks a row of a request_id's request)"
            return FeedbackProblem(index, "row", shown_value(row), expected)
        if not isinstance(inputs, Mapping):
            expected = f"an object of the model's inputs {self.signature.names}"
            return FeedbackProblem(index, "inputs", shown_value(inputs), expected)
        try:
            self.inputs.rows([inputs])
        except ValidationError as error:
            return _input_problem(index, inputs, error)
        return Label(None, None, dict(inputs), None)

    def table(
        self,
        items: Sequence[Mapping[str, Any]],
        *,
        model: str,
        source: str,
        redactor: Redactor | None = None,
    ) -> pa.Table:
        """Every item as a feedback-log table, or :class:`ValidationError` naming the bad ones.

        Raises
        ------
        ValidationError
            No items, or any bad item (nothing is kept: all or nothing).
        PayloadTooLarge
            More than ``max_items`` items.
        """
        if not items:
            raise ValidationError("no labels were sent; send at least one in 'labels'")
        if self.max_items is not None and len(items) > self.max_items:
            raise PayloadTooLarge(
                f"{len(items)} labels were sent; at most {self.max_items} are accepted per "
                "request (split them, or use 'modelcycle feedback' for files)",
                details={"labels": len(items), "limit": self.max_items},
            )
        labels, problems = self.validate(items)
        if problems:
            raise rejection(problems)
        return feedback_table(
            labels, model=model, source=source, sensitive=self.sensitive, redactor=redactor
        )


def _input_problem(
    index: int, inputs: Mapping[str, Any], error: ValidationError
) -> FeedbackProblem:
    details = error.details
    field = str(details.get("field", ""))
    if "value" in details:
        value, expected = details["value"], str(details.get("expected"))
    else:  # an unknown field: the validator lists the expected names
        value = shown_value(inputs.get(field))
        expected = f"only the model's inputs {details.get('expected')}"
    return FeedbackProblem(index, f"inputs.{field}" if field else "inputs", value, expected)


def rejection(problems: Sequence[FeedbackProblem]) -> ValidationError:
    """One error naming the first bad item (and how many more there are)."""
    first = problems[0]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return ValidationError(
        f"labels[{first.item}]: {first.describe()}{more}; nothing was recorded",
        details={**first.to_dict(), "errors": [p.to_dict() for p in problems[:MAX_REPORTED]]},
    )


def feedback_table(
    labels: Sequence[Label],
    *,
    model: str,
    source: str,
    sensitive: frozenset[str] = frozenset(),
    redactor: Redactor | None = None,
) -> pa.Table:
    """Checked labels as rows of :data:`~modelcycle.store.FEEDBACK_SCHEMA`."""
    now = datetime.now(UTC)
    rows = []
    for label in labels:
        inputs = label.inputs
        if inputs is not None and redactor is not None and sensitive:
            inputs = redactor.row(inputs, sensitive)
        rows.append(
            {
                "feedback_id": uuid.uuid4().hex,
                "time": now,
                "model": model,
                "request_id": label.request_id,
                "row": label.row,
                "inputs": inputs_json(inputs) if inputs is not None else None,
                "label": json_text(label.label),
                "source": source,
            }
        )
    return pa.Table.from_pylist(rows, schema=FEEDBACK_SCHEMA)


class FeedbackService:
    """Receives labels for the served models: checks them and appends them to the log.

    Parameters
    ----------
    hub:
        The served models (a label is checked against the version answering ``ref`` now).
    log:
        Where accepted labels go.
    metrics:
        Counts accepted labels per model.
    redactor:
        Hashes or drops sensitive inputs, as the prediction log does.
    max_items:
        Most labels per request.
    """

    def __init__(
        self,
        hub: ModelHub,
        log: FeedbackLog,
        metrics: ServingMetrics,
        *,
        redactor: Redactor | None,
        max_items: int,
    ) -> None:
        self.hub = hub
        self.log = log
        self.metrics = metrics
        self.redactor = redactor
        self.max_items = max_items

    def receive(self, ref: str, items: Sequence[Mapping[str, Any]]) -> tuple[str, int]:
        """Check and log ``items`` for ``ref``'s model; return the model's name and the count."""
        model = self.hub.get(ref)
        validator = FeedbackValidator(
            model.signature,
            classes=model.classes,
            max_items=self.max_items,
            input_validator=model.validator,
        )
        table = validator.table(items, model=model.name, source="api", redactor=self.redactor)
        self.log.append(table)
        self.metrics.labelled(model.name, len(table))
        return model.name, len(table)

"""Shared types and the error hierarchy."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelcycle.core import (
    Column,
    ColumnKind,
    IntegrityError,
    ModelcycleError,
    ModelRef,
    NotFound,
    Schema,
    Settings,
    ValidationError,
    WorkspaceError,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("churn", ModelRef("churn", "champion", None)),
        ("churn@challenger", ModelRef("churn", "challenger", None)),
        ("churn/12", ModelRef("churn", None, 12)),
        ("credit-risk.v2@shadow", ModelRef("credit-risk.v2", "shadow", None)),
    ],
)
def test_model_refs(text: str, expected: ModelRef) -> None:
    assert ModelRef.parse(text) == expected


@pytest.mark.parametrize("text", ["", "1churn", "churn@", "churn/x", "churn@a b", "a/1@b"])
def test_bad_model_refs(text: str) -> None:
    with pytest.raises(ValidationError, match="expected 'name', 'name@alias' or 'name/version'"):
        ModelRef.parse(text)


@given(st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,20}", fullmatch=True), st.integers(1, 10**6))
def test_model_ref_round_trip(name: str, version: int) -> None:
    ref = ModelRef(name, None, version)
    assert ModelRef.parse(str(ref)) == ref


def test_errors_subclass_what_callers_catch() -> None:
    assert issubclass(ValidationError, ValueError) and issubclass(ValidationError, ModelcycleError)
    assert issubclass(NotFound, LookupError)
    assert issubclass(WorkspaceError, OSError)
    assert not issubclass(IntegrityError, ValueError)
    assert (
        len({e.exit_code for e in (ValidationError, NotFound, WorkspaceError, IntegrityError)}) == 4
    )


def test_schema_round_trip_and_duplicates() -> None:
    schema = Schema(
        (
            Column("age", ColumnKind.INTEGER, nullable=False),
            Column("plan", ColumnKind.CATEGORICAL, categories=("a", "b")),
            Column("id", ColumnKind.IDENTIFIER, dropped=True, note="unique per row"),
            Column("churned", ColumnKind.BOOLEAN),
        ),
        target="churned",
    )
    assert Schema.from_dict(schema.to_dict()) == schema
    assert [c.name for c in schema.features] == ["age", "plan"]
    with pytest.raises(ValidationError, match=r"duplicated column names \['age'\]"):
        Schema((Column("age", ColumnKind.NUMERIC), Column("age", ColumnKind.NUMERIC)))
    with pytest.raises(ValidationError, match="kind 'float'"):
        Column.from_dict({"name": "x", "kind": "float"})


def test_settings_come_from_the_environment_when_built(monkeypatch: pytest.MonkeyPatch) -> None:
    before = Settings()
    monkeypatch.setenv("MODELCYCLE_TRACKING_FLUSH_INTERVAL_S", "0.25")
    assert Settings().tracking_flush_interval_s == 0.25
    assert before.tracking_flush_interval_s == 1.0  # built earlier: unchanged
    monkeypatch.setenv("MODELCYCLE_MAX_PARAM_LENGTH", "-3")
    with pytest.raises(Exception, match="max_param_length"):
        Settings()

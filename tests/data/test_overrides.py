"""Schema overrides from TOML/JSON files: applying them, round-tripping them, bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelcycle.core import ColumnKind, ValidationError
from modelcycle.data import ColumnOverride, SchemaOverrides, infer_schema, load_schema_overrides

TOML = """
target = "wage"

[columns.nr]
kind = "identifier"

[columns.school]
kind = "categorical"
note = "years of schooling, as levels"

[columns.ethn]
sensitive = true
drop = true

[columns.health]
categories = ["no", "yes", "unknown"]
"""


def test_toml_overrides_are_applied(tmp_path: Path, males: pd.DataFrame) -> None:
    path = tmp_path / "schema.toml"
    path.write_text(TOML)

    schema = infer_schema(males, overrides=path)

    assert schema.target == "wage"
    assert schema["nr"].kind is ColumnKind.IDENTIFIER and schema["nr"].dropped
    assert schema["school"].kind is ColumnKind.CATEGORICAL
    assert schema["school"].categories == tuple(str(v) for v in sorted(males["school"].unique()))
    assert schema["school"].note == "years of schooling, as levels"
    assert schema["ethn"].sensitive and schema["ethn"].dropped
    assert (
        schema["ethn"].note
        == f"set by schema overrides file '{path}': sensitive = True, drop = True"
    )
    assert schema["health"].categories == ("no", "yes", "unknown")
    assert schema.notes[-1] == (
        f"applied schema overrides file '{path}' to columns ['ethn', 'health', 'nr', 'school']"
    )


def test_json_overrides_and_explicit_target_wins(tmp_path: Path, males: pd.DataFrame) -> None:
    path = tmp_path / "schema.json"
    path.write_text(json.dumps({"target": "wage", "columns": {"year": {"kind": "categorical"}}}))

    schema = infer_schema(males, target="union", overrides=path)

    assert schema.target == "union"
    assert schema["year"].kind is ColumnKind.CATEGORICAL


def test_overriding_an_identifier_back_into_a_feature(mixed_frame: pd.DataFrame) -> None:
    schema = infer_schema(mixed_frame, overrides={"row": {"kind": "integer"}})

    assert schema["row"].kind is ColumnKind.INTEGER
    assert not schema["row"].dropped


def test_a_plain_mapping_is_read_as_columns(mixed_frame: pd.DataFrame) -> None:
    schema = infer_schema(mixed_frame, overrides={"amount": {"sensitive": True}})

    assert schema["amount"].sensitive
    assert schema["amount"].kind is ColumnKind.NUMERIC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[columns.age]\nkind = "int"\n',
            r"column 'age' field 'kind' has value 'int'; expected one of \['numeric'",
        ),
        (
            '[columns.age]\nsensitive = "yes"\n',
            r"column 'age' field 'sensitive' has value 'yes'; expected true or false",
        ),
        (
            "[columns.age]\ndropped = true\n",
            r"column 'age' has unknown field 'dropped'; expected fields \['kind'",
        ),
        (
            '[columns.age]\ncategories = "a,b"\n',
            r"column 'age' field 'categories' has value 'a,b'; expected a list of values",
        ),
        ("[columns]\nage = 3\n", r"column 'age' is 3; expected a table of fields"),
        ('targte = "y"\n', r"has unknown key 'targte'; expected keys \['target', 'columns'\]"),
        ("[columns.age\n", r"is not valid TOML: .*line 1"),
    ],
)
def test_bad_fields_name_file_column_field_and_value(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "schema.toml"
    path.write_text(text)

    with pytest.raises(ValidationError, match=expected) as caught:
        load_schema_overrides(path)

    assert f"schema overrides file '{path}'" in str(caught.value)


def test_bad_field_details_are_machine_readable(tmp_path: Path) -> None:
    path = tmp_path / "schema.json"
    path.write_text(json.dumps({"columns": {"age": {"kind": 3}}}))

    with pytest.raises(ValidationError) as caught:
        load_schema_overrides(path)

    assert caught.value.details == {"column": "age", "field": "kind"}


def test_invalid_json_names_file_and_position(tmp_path: Path) -> None:
    path = tmp_path / "schema.json"
    path.write_text('{"columns": {"age": }}')

    with pytest.raises(ValidationError, match=r"schema\.json' is not valid JSON: .*line 1"):
        load_schema_overrides(path)


def test_missing_overrides_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"absent\.toml' could not be read"):
        load_schema_overrides(tmp_path / "absent.toml")


def test_overrides_file_needs_a_known_extension(tmp_path: Path) -> None:
    path = tmp_path / "schema.yaml"
    path.write_text("columns: {}")

    with pytest.raises(ValidationError, match=r"schema\.yaml' has an unknown extension"):
        load_schema_overrides(path)


def test_override_of_an_absent_column_names_it(tmp_path: Path, males: pd.DataFrame) -> None:
    path = tmp_path / "schema.toml"
    path.write_text('[columns.wages]\nkind = "numeric"\n')

    with pytest.raises(ValidationError, match=r"names column 'wages', which is not in the table"):
        infer_schema(males, overrides=path)


def test_dropping_the_target_is_refused(males: pd.DataFrame) -> None:
    with pytest.raises(ValidationError, match="drops column 'wage', which is the target"):
        infer_schema(males, target="wage", overrides={"wage": {"drop": True}})


def test_overrides_of_the_wrong_type_are_refused(males: pd.DataFrame) -> None:
    with pytest.raises(ValidationError, match="overrides is a int; expected a SchemaOverrides"):
        infer_schema(males, overrides=3)  # type: ignore[arg-type]


_names = st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=12)
_overrides = st.builds(
    ColumnOverride,
    kind=st.none() | st.sampled_from(list(ColumnKind)),
    sensitive=st.none() | st.booleans(),
    drop=st.none() | st.booleans(),
    nullable=st.none() | st.booleans(),
    categories=st.none() | st.lists(_names, max_size=4).map(tuple),
    note=st.none() | _names,
)
_schema_overrides = st.builds(
    SchemaOverrides,
    columns=st.dictionaries(_names, _overrides, max_size=4),
    target=st.none() | _names,
)


def _toml(overrides: SchemaOverrides) -> str:
    """Write overrides as TOML; JSON string escapes are valid TOML basic strings."""
    lines = [] if overrides.target is None else [f"target = {_quoted(overrides.target)}"]
    for name, override in overrides.columns.items():
        lines.append(f"[columns.{_quoted(name)}]")
        for key, value in override.to_dict().items():
            lines.append(f"{key} = {_quoted(value)}")
    return "\n".join(lines) + "\n"


def _quoted(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(overrides=_schema_overrides)
def test_overrides_round_trip_through_json_and_toml(
    tmp_path: Path, overrides: SchemaOverrides
) -> None:
    as_json = tmp_path / "schema.json"
    as_toml = tmp_path / "schema.toml"
    as_json.write_text(json.dumps(overrides.to_dict()), encoding="utf-8")
    as_toml.write_text(_toml(overrides), encoding="utf-8")

    from_json = load_schema_overrides(as_json)
    from_toml = load_schema_overrides(as_toml)

    assert dict(from_json.columns) == dict(overrides.columns)
    assert dict(from_toml.columns) == dict(overrides.columns)
    assert from_json.target == from_toml.target == overrides.target
    assert SchemaOverrides.from_dict(overrides.to_dict()).to_dict() == overrides.to_dict()

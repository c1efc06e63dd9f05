"""The three input forms of transform, missing columns and bad inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelcycle.core import ValidationError
from modelcycle.features import Preprocessor

from .conftest import MIXED_SCHEMA, mixed_frame


def forms(frame: pd.DataFrame) -> dict[str, object]:
    """The same rows as a DataFrame, a list of row dicts, a dict of lists and of arrays."""
    rows = [
        {key: (None if value is pd.NaT else value) for key, value in row.items()}
        for row in frame.to_dict("records")
    ]
    return {
        "frame": frame,
        "rows": rows,
        "lists": {name: frame[name].tolist() for name in frame.columns},
        "arrays": {name: frame[name].to_numpy() for name in frame.columns},
    }


@pytest.mark.parametrize("encoding", ["native", "onehot", "target"])
@pytest.mark.parametrize("scale", [False, True])
def test_every_input_form_gives_identical_output(encoding: str, scale: bool) -> None:
    pre = Preprocessor(schema=MIXED_SCHEMA, encoding=encoding, scale=scale, random_state=0)
    pre.fit(mixed_frame(300, seed=1))
    fresh = mixed_frame(120, seed=2)
    fresh.loc[3, "color"] = "ultraviolet"  # unseen
    expected = pre.transform(fresh)
    assert expected.shape == (120, len(pre.feature_names_))
    assert expected.dtype == np.float64 and expected.flags.c_contiguous
    for name, data in forms(fresh).items():
        assert pre.transform(data).tobytes() == expected.tobytes(), name


def test_single_row_equals_the_same_row_in_a_batch(mixed: pd.DataFrame) -> None:
    pre = Preprocessor(schema=MIXED_SCHEMA, encoding="onehot", scale=True).fit(mixed)
    batch = pre.transform(mixed)
    rows = forms(mixed)["rows"]
    for index in (0, 17, 399):
        single = pre.transform([rows[index]])  # type: ignore[index]
        assert single.tobytes() == batch[index : index + 1].tobytes()


def test_missing_columns_are_missing_values_never_a_crash(mixed: pd.DataFrame) -> None:
    pre = Preprocessor(schema=MIXED_SCHEMA, encoding="onehot").fit(mixed)
    empty_row = pre.transform([{}])
    all_missing = {name: [None] for name in pre.feature_names_in_}
    assert empty_row.tobytes() == pre.transform(all_missing).tobytes()
    assert empty_row.tobytes() == pre.transform(pd.DataFrame({"other": [1]})).tobytes()
    assert not np.isnan(empty_row).any()
    names = pre.feature_names_
    assert empty_row[0, names.index("amount")] == np.nanmedian(mixed["amount"])
    assert empty_row[0, names.index("amount__missing")] == 1.0


def test_extra_columns_are_ignored(mixed: pd.DataFrame) -> None:
    pre = Preprocessor(schema=MIXED_SCHEMA).fit(mixed)
    plain = pre.transform([{"amount": 3.0}])
    assert plain.tobytes() == pre.transform([{"amount": 3.0, "surprise": object()}]).tobytes()


def test_empty_inputs_give_zero_rows(mixed: pd.DataFrame) -> None:
    pre = Preprocessor(schema=MIXED_SCHEMA).fit(mixed)
    width = len(pre.feature_names_)
    assert pre.transform([]).shape == (0, width)
    assert pre.transform(mixed.iloc[:0]).shape == (0, width)
    assert pre.transform({"amount": []}).shape == (0, width)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"amount": 3.0},
            r"column 'amount' of a dict of columns is a float.*wrap its dict in a list",
        ),
        ({"amount": [1.0], "count": [1, 2]}, "different lengths"),
        ({}, "dict of columns is empty"),
        ({"amount": np.zeros((2, 2))}, "2-D array"),
        ([{"amount": 1.0}, ("amount", 1.0)], r"row 1 is a tuple; expected a dict"),
        (np.zeros((2, 3)), "cannot transform a ndarray"),
        ("amount", "cannot transform a str"),
    ],
)
def test_bad_input_forms_are_validation_errors(
    mixed: pd.DataFrame, data: object, message: str
) -> None:
    pre = Preprocessor(schema=MIXED_SCHEMA).fit(mixed)
    with pytest.raises(ValidationError, match=message):
        pre.transform(data)  # type: ignore[arg-type]


def test_the_first_bad_cell_is_reported(mixed: pd.DataFrame) -> None:
    pre = Preprocessor(schema=MIXED_SCHEMA).fit(mixed)
    rows = [{"amount": 1.0}, {"amount": 2.0, "count": "many"}, {"amount": "lots"}]
    with pytest.raises(ValidationError) as caught:
        pre.transform(rows)
    assert caught.value.details == {
        "column": "count",
        "row": 1,
        "value": "'many'",
        "expected": "a number (int, float or Decimal) or a missing value (None or NaN)",
    }

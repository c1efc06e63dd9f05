"""drift_report: injected changes are detected, false alarms are controlled (issue 7)."""

from __future__ import annotations

import doctest
import importlib
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from modelcycle.core import ValidationError
from modelcycle.data import Profile, infer_schema
from modelcycle.monitoring import drift_report

SHARES = [0.3, 0.25, 0.2, 0.15, 0.1]
CATEGORIES = ["a", "b", "c", "d", "e"]


def make_table(rng: np.random.Generator, rows: int) -> pd.DataFrame:
    """Ten numeric and ten categorical columns; 5% missing in n0 and c0."""
    data: dict[str, object] = {f"n{i}": rng.normal(10.0 * i, 1.0 + i, rows) for i in range(10)}
    data |= {f"c{i}": rng.choice(CATEGORIES, rows, p=SHARES) for i in range(10)}
    table = pd.DataFrame(data)
    table.loc[rng.random(rows) < 0.05, "n0"] = np.nan
    table.loc[rng.random(rows) < 0.05, "c0"] = None
    return table


@pytest.fixture(scope="module")
def reference() -> Profile:
    train = make_table(np.random.default_rng(2024), 20_000)
    return Profile.from_frame(train, infer_schema(train))


def window(seed: int, rows: int = 5_000) -> pd.DataFrame:
    return make_table(np.random.default_rng(seed), rows)


def test_mean_shift_of_three_tenths_sd_is_detected(reference: Profile) -> None:
    current = window(1)
    current["n3"] += 0.3 * 4.0
    report = drift_report(reference, current)
    assert report.drifted_columns == ["n3"]
    assert report["n3"].significant and "wasserstein" in report["n3"].exceeded


def test_variance_times_one_and_a_half_is_detected(reference: Profile) -> None:
    current = window(2)
    current["n5"] = 50.0 + (current["n5"] - 50.0) * np.sqrt(1.5)
    report = drift_report(reference, current)
    assert report.drifted_columns == ["n5"]
    assert report["n5"]["ks"].pvalue < 1e-6


def test_a_category_share_doubled_is_detected(reference: Profile) -> None:
    rng = np.random.default_rng(3)
    current = window(3)
    doubled = [0.2 / 0.85 * 0.85, 0.25, 0.2, 0.15, 0.2]  # e: 0.1 -> 0.2, "a" gives way
    doubled[0] = 1.0 - sum(doubled[1:])
    current["c4"] = rng.choice(CATEGORIES, len(current), p=doubled)
    report = drift_report(reference, current)
    assert report.drifted_columns == ["c4"]
    assert report["c4"]["chi_square"].pvalue < 1e-6


@pytest.mark.parametrize("column", ["n0", "c0", "n7"])
def test_missing_rate_up_ten_points_is_detected(reference: Profile, column: str) -> None:
    rng = np.random.default_rng(4)
    current = window(4)
    current.loc[rng.random(len(current)) < 0.1, column] = None
    report = drift_report(reference, current)
    assert report.drifted_columns == [column]
    assert report[column]["missing_rate"].statistic == pytest.approx(0.1, abs=0.015)


def test_false_alarm_rate_on_200_stable_windows_is_at_most_5_percent(reference: Profile) -> None:
    alarms = [drift_report(reference, window(1_000 + seed)).drifted for seed in range(200)]
    assert sum(alarms) <= 10, sum(alarms)  # seeded: 4 of 200 at the time of writing
    bonferroni = [
        drift_report(reference, window(1_000 + s), method="bonferroni").drifted for s in range(50)
    ]
    assert sum(bonferroni) <= sum(alarms[:50])


def test_arrow_table_and_dict_give_the_same_report(reference: Profile) -> None:
    current = window(5)
    current["n1"] += 1.0
    expected = drift_report(reference, current).to_dict()
    assert drift_report(reference, pa.Table.from_pandas(current)).to_dict() == expected
    as_dict = {name: current[name].to_numpy() for name in current.columns}
    assert drift_report(reference, as_dict).to_dict() == expected


def test_to_dict_is_json_ready_and_names_skipped_columns(reference: Profile) -> None:
    current = window(6).drop(columns=["c9"])
    report = drift_report(reference, current)
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["skipped"] == {"c9": "absent from the window"}
    assert len(data["columns"]) == 19 and data["method"] == "bh"
    assert set(data["columns"][0]["results"]) == {"psi", "ks", "wasserstein", "missing_rate"}
    assert set(data["columns"][-1]["results"]) == {
        "chi_square",
        "jensen_shannon",
        "new_category",
        "missing_rate",
    }


def test_prediction_drift_against_reference_predictions(reference: Profile) -> None:
    rng = np.random.default_rng(7)
    validation_predictions = rng.beta(2, 5, 10_000)
    current = window(7)
    current["prediction"] = rng.beta(2, 5, len(current))
    stable = drift_report(reference, current, prediction_reference=validation_predictions)
    assert stable.prediction is not None and not stable.prediction.drifted
    current["prediction"] = rng.beta(3, 4, len(current))
    shifted = drift_report(reference, current, prediction_reference=validation_predictions)
    assert shifted.prediction is not None and shifted.prediction.drifted and shifted.drifted
    assert shifted.drifted_columns == []
    assert "prediction" in drift_report(reference, current).skipped


def test_bad_arguments_say_what_was_expected(reference: Profile) -> None:
    with pytest.raises(ValidationError, match="method is 'holm'"):
        drift_report(reference, window(8, 10), method="holm")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="alpha is 2"):
        drift_report(reference, window(8, 10), alpha=2)
    with pytest.raises(ValidationError, match="no rows"):
        drift_report(reference, window(8, 10).iloc[:0])
    with pytest.raises(ValidationError, match="expected a pandas DataFrame"):
        drift_report(reference, [1, 2, 3])
    with pytest.raises(ValidationError, match="differ in length"):
        drift_report(reference, {"n0": [1.0], "n1": [1.0, 2.0]})
    with pytest.raises(ValidationError, match="no 'prediction' column"):
        drift_report(reference, window(8, 10), prediction_reference=[0.1, 0.2])


MODULES = [
    "modelcycle.monitoring",
    "modelcycle.monitoring.drift._psi",
    "modelcycle.monitoring.drift._ks",
    "modelcycle.monitoring.drift._wasserstein",
    "modelcycle.monitoring.drift._chi_square",
    "modelcycle.monitoring.drift._jensen_shannon",
    "modelcycle.monitoring.drift._new_category",
    "modelcycle.monitoring.drift._missing_rate",
    "modelcycle.monitoring.drift._multiple_testing",
    "modelcycle.monitoring.drift._report",
    "modelcycle.monitoring.drift._window",
]


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0 and result.attempted > 0

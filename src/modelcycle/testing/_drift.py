"""The drift detector contract: every detector must pass these checks (needs pytest).

Subclass :class:`DriftDetectorContract` and provide a ``detector`` fixture returning a
fresh, unfitted detector (parametrize it to check several). The data are seeded:
a reference of 20,000 rows (5% missing), a window from the same distribution, and a
window with a clear change (a one-sd mean shift, or a reshuffled category mix with
10% of a new category; and 30% missing), which every detector must flag.

Examples
--------
>>> import pytest  # doctest: +SKIP
>>> class TestMyDetector(DriftDetectorContract):
...     @pytest.fixture
...     def detector(self):
...         return MyDetector()
"""

from __future__ import annotations

import inspect
import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from modelcycle.core import ColumnKind, ValidationError
from modelcycle.data import ColumnProfile
from modelcycle.monitoring import DriftDetector, DriftResult
from modelcycle.monitoring.drift._base import Kind, profile_values
from modelcycle.monitoring.drift._window import ColumnWindow

_SEED = 0
_CATEGORIES = np.array(["a", "b", "c", "d", "e", "new"])


def contract_values(kind: Kind, rows: int, *, changed: bool, seed: int) -> pd.Series:
    """Seeded values of ``kind``: stable, or clearly changed (shift and more missing)."""
    rng = np.random.default_rng(seed)
    if kind == "numeric":
        values: pd.Series = pd.Series(rng.normal(1.0 if changed else 0.0, 1.0, rows))
    else:
        stable = [0.4, 0.3, 0.15, 0.1, 0.05, 0.0]
        shares = [0.1, 0.1, 0.15, 0.25, 0.3, 0.1] if changed else stable
        values = pd.Series(rng.choice(_CATEGORIES, rows, p=shares), dtype=object)
    values[rng.random(rows) < (0.3 if changed else 0.05)] = None
    return values


class DriftDetectorContract:
    """Checks of the estimator contract, verdicts, inputs, determinism and JSON output."""

    @pytest.fixture(params=["numeric", "categorical"])
    def kind(self, request: pytest.FixtureRequest, detector: DriftDetector) -> Kind:
        if request.param not in type(detector).kinds:
            pytest.skip(f"{type(detector).__name__} does not compare {request.param} columns")
        kind: Kind = request.param
        return kind

    @pytest.fixture
    def reference(self, kind: Kind) -> ColumnProfile:
        values = contract_values(kind, 20_000, changed=False, seed=_SEED)
        return profile_values(ColumnWindow(values), "x")

    def test_constructor_only_stores_keyword_arguments(self, detector: DriftDetector) -> None:
        parameters = list(inspect.signature(type(detector).__init__).parameters.values())[1:]
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters)
        assert detector.get_params() == {p.name: getattr(detector, p.name) for p in parameters}
        assert not [name for name in vars(detector) if name.endswith("_")]
        assert isinstance(type(detector).name, str) and type(detector).kinds

    def test_fit_returns_self_and_learns_trailing_underscore_state(
        self, detector: DriftDetector, reference: ColumnProfile
    ) -> None:
        params = detector.get_params()
        assert detector.fit(reference) is detector
        assert [name for name in vars(detector) if name.endswith("_")]
        assert detector.get_params() == params

    def test_detect_before_fit_raises(self, detector: DriftDetector, kind: Kind) -> None:
        with pytest.raises(ValidationError, match="not fitted"):
            detector.detect(contract_values(kind, 100, changed=False, seed=1))

    def test_stable_window_is_not_drift(
        self, detector: DriftDetector, reference: ColumnProfile, kind: Kind
    ) -> None:
        result = detector.fit(reference).detect(contract_values(kind, 5_000, changed=False, seed=2))
        assert isinstance(result, DriftResult)
        assert result.detector == type(detector).name
        assert not result.drifted, result
        assert (result.pvalue is not None) == type(detector).is_test

    def test_clear_change_is_drift(
        self, detector: DriftDetector, reference: ColumnProfile, kind: Kind
    ) -> None:
        result = detector.fit(reference).detect(contract_values(kind, 5_000, changed=True, seed=3))
        assert result.drifted, result

    @pytest.mark.parametrize("form", ["series", "numpy", "list", "arrow", "window"])
    def test_every_input_form_gives_the_same_result(
        self, detector: DriftDetector, reference: ColumnProfile, kind: Kind, form: str
    ) -> None:
        values = contract_values(kind, 2_000, changed=True, seed=4)
        expected = detector.fit(reference).detect(values)
        converted: dict[str, Any] = {
            "series": values.copy(),
            "numpy": values.to_numpy(),
            "list": values.tolist(),
            "arrow": pa.array(values.tolist()),
            "window": ColumnWindow(values),
        }
        assert detector.detect(converted[form]) == expected

    def test_deterministic_and_input_left_unchanged(
        self, detector: DriftDetector, reference: ColumnProfile, kind: Kind
    ) -> None:
        values = contract_values(kind, 2_000, changed=True, seed=5)
        before = values.copy()
        first = detector.fit(reference).detect(values)
        assert detector.detect(values) == first
        pd.testing.assert_series_equal(values, before)

    def test_profile_round_trip_gives_the_same_result(
        self, detector: DriftDetector, reference: ColumnProfile, kind: Kind
    ) -> None:
        values = contract_values(kind, 2_000, changed=True, seed=6)
        restored = ColumnProfile.from_dict(json.loads(json.dumps(reference.to_dict())))
        expected = detector.fit(reference).detect(values)
        assert detector.fit(restored).detect(values) == expected

    def test_empty_and_all_missing_windows_are_no_evidence(
        self, detector: DriftDetector, reference: ColumnProfile
    ) -> None:
        detector.fit(reference)
        for values in ([], [None, None, None]):
            result = detector.detect(pd.Series(values, dtype=object))
            assert np.isfinite(result.statistic)
            if type(detector).name != "missing_rate":
                assert not result.drifted and result.rows == 0

    def test_result_is_json_ready(
        self, detector: DriftDetector, reference: ColumnProfile, kind: Kind
    ) -> None:
        result = detector.fit(reference).detect(contract_values(kind, 1_000, changed=True, seed=7))
        text = json.dumps(result.to_dict(), allow_nan=False)
        assert json.loads(text)["detector"] == type(detector).name

    def test_wrong_kind_or_parameters_are_refused(self, detector: DriftDetector) -> None:
        for kind, values in (("numeric", [1.0, 2.0, 3.0]), ("categorical", ["a", "b"])):
            if kind not in type(detector).kinds:
                with pytest.raises(ValidationError, match="compares"):
                    detector.fit(values)
        bad = type(detector)(**{name: -1 for name in detector.get_params()})
        with pytest.raises(ValidationError, match="expected a number"):
            bad.fit(ColumnProfile("x", ColumnKind.NUMERIC, 0, 0))

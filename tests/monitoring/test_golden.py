"""Golden values of the statistics on fixed small inputs, checked against SciPy (issue 7)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from modelcycle.core import ColumnKind
from modelcycle.data import CategorySummary, ColumnProfile, Histogram, NumericSummary
from modelcycle.monitoring import (
    ChiSquareDetector,
    JensenShannonDetector,
    KSDetector,
    MissingRateDetector,
    NewCategoryDetector,
    PSIDetector,
    WassersteinDetector,
)
from modelcycle.monitoring.drift import adjust_pvalues
from modelcycle.monitoring.drift._ks import sketch_distance

FIRST = [0.1, 0.4, 0.7, 1.2, 1.9, 2.5, 3.1, 3.3, 4.0, 5.2]
SECOND = [0.9, 1.5, 2.2, 2.8, 3.6, 4.4, 4.9, 5.5, 6.1, 7.0, 7.7, 8.3]


def numeric_column(edges: tuple[float, ...], counts: tuple[int, ...]) -> ColumnProfile:
    quantiles = tuple(np.linspace(edges[0], edges[-1], 101))
    summary = NumericSummary(0.0, 1.0, edges[0], edges[-1], quantiles, Histogram(edges, counts))
    return ColumnProfile("x", ColumnKind.NUMERIC, sum(counts), 0, 0, summary)


def category_column(top: tuple[tuple[str, int], ...], other: int = 0) -> ColumnProfile:
    summary = CategorySummary(len(top) + (1 if other else 0), top, other)
    return ColumnProfile("c", ColumnKind.CATEGORICAL, sum(c for _, c in top) + other, 0, 0, summary)


def test_psi_golden_value_on_fixed_bins() -> None:
    reference = numeric_column((0.0, 1.0, 2.0, 3.0), (50, 30, 20))
    window = [0.5] * 20 + [1.5] * 30 + [2.5] * 50 + [9.0] * 0
    expected = (0.2 - 0.5) * math.log(0.2 / 0.5) + 0.0 + (0.5 - 0.2) * math.log(0.5 / 0.2)
    result = PSIDetector().fit(reference).detect(window)
    assert result.statistic == pytest.approx(expected, rel=1e-12)
    assert result.statistic == pytest.approx(0.5497744391, abs=1e-9)
    assert result.drifted and result.pvalue is None


def test_psi_counts_values_beyond_the_edges_in_the_outer_bins_and_floors_empty_ones() -> None:
    reference = numeric_column((0.0, 1.0, 2.0), (10, 10))
    result = PSIDetector(epsilon=1e-4).fit(reference).detect([-5.0] * 10 + [99.0] * 10)
    assert result.statistic == pytest.approx(0.0, abs=1e-12)
    empty = PSIDetector(epsilon=1e-4).fit(reference).detect([0.5] * 20)
    assert empty.statistic == pytest.approx(
        (1 - 0.5) * math.log(1 / 0.5) + (1e-4 - 0.5) * math.log(1e-4 / 0.5)
    )


def test_ks_on_reference_values_equals_scipy() -> None:
    result = KSDetector().fit(FIRST).detect(SECOND)
    expected = stats.ks_2samp(FIRST, SECOND, method="asymp")
    assert result.statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert result.pvalue == pytest.approx(expected.pvalue, rel=1e-9)


def test_ks_on_large_seeded_samples_equals_scipy() -> None:
    rng = np.random.default_rng(7)
    first, second = rng.normal(size=3000), rng.normal(0.1, 1.1, size=2000)
    result = KSDetector().fit(first).detect(second)
    expected = stats.ks_2samp(first, second, method="asymp")
    assert result.statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert result.pvalue == pytest.approx(expected.pvalue, rel=1e-9)


def test_ks_from_quantiles_never_exceeds_the_exact_distance() -> None:
    rng = np.random.default_rng(8)
    reference = rng.normal(size=20_000)
    quantiles = np.quantile(reference, np.linspace(0, 1, 101))
    for shift in (0.0, 0.05, 0.3, 1.0):
        window = np.sort(rng.normal(shift, size=5_000))
        exact = stats.ks_2samp(reference, window).statistic
        sketch = sketch_distance(quantiles, window)
        assert sketch <= exact + 1.0 / 20_000
        assert sketch >= exact - 0.011  # one percentile step at most


def test_ks_golden_sketch_value() -> None:
    reference = numeric_column((0.0, 100.0), (100,))  # quantiles 0, 1, ..., 100: uniform
    result = KSDetector().fit(reference).detect([float(v) for v in range(50, 100)])
    # the exact distance is 0.5 (just below 50); the sketch sees it at q_49, a percentile early
    assert result.statistic == pytest.approx(0.49)
    assert result.pvalue == pytest.approx(stats.kstwo.sf(0.49, round(100 * 50 / 150)))


def test_wasserstein_of_a_shift_is_the_shift_in_reference_sd() -> None:
    rng = np.random.default_rng(9)
    reference = rng.normal(size=50_000)
    window = rng.normal(0.5, size=50_000)
    result = WassersteinDetector().fit(reference).detect(window)
    assert result.statistic == pytest.approx(
        stats.wasserstein_distance(reference, window) / reference.std(ddof=1), abs=0.01
    )


def test_chi_square_equals_scipy_contingency() -> None:
    reference = category_column((("a", 40), ("b", 35), ("c", 20)), other=5)
    window = ["a"] * 20 + ["b"] * 30 + ["c"] * 35 + ["z"] * 10 + ["y"] * 5
    result = ChiSquareDetector().fit(reference).detect(window)
    expected = stats.chi2_contingency([[40, 35, 20, 5], [20, 30, 35, 15]], correction=False)
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert result.pvalue == pytest.approx(expected.pvalue, rel=1e-9)
    assert result.statistic == pytest.approx(16.142191142, rel=1e-9)


def test_jensen_shannon_equals_scipy() -> None:
    reference = category_column((("a", 50), ("b", 30), ("c", 20)))
    window = ["a"] * 20 + ["b"] * 30 + ["c"] * 40 + ["new"] * 10
    result = JensenShannonDetector().fit(reference).detect(window)
    expected = jensenshannon([0.5, 0.3, 0.2, 0.0], [0.2, 0.3, 0.4, 0.1], base=2)
    assert result.statistic == pytest.approx(expected, rel=1e-12)
    assert result.statistic == pytest.approx(0.349884339, rel=1e-8)


def test_new_category_rate() -> None:
    complete = category_column((("a", 50), ("b", 50)))
    assert NewCategoryDetector().fit(complete).detect(["a", "c", "d", "b"]).statistic == 0.5
    top_only = category_column((("a", 50), ("b", 40)), other=10)
    grown = NewCategoryDetector().fit(top_only).detect(["a"] * 7 + ["q"] * 3)
    assert grown.statistic == pytest.approx(0.2)


def test_missing_rate_z_test() -> None:
    summary = numeric_column((0.0, 1.0), (900,)).summary
    reference = ColumnProfile("x", ColumnKind.NUMERIC, 900, 100, 0, summary)
    result = MissingRateDetector().fit(reference).detect([1.0] * 400 + [None] * 100)
    pooled = 200 / 1500
    z = 0.1 / math.sqrt(pooled * (1 - pooled) * (1 / 1000 + 1 / 500))
    assert result.statistic == pytest.approx(0.1)
    assert result.pvalue == pytest.approx(2 * stats.norm.sf(z), rel=1e-12)


def test_benjamini_hochberg_equals_scipy() -> None:
    pvalues = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216]
    expected = stats.false_discovery_control(pvalues, method="bh")
    np.testing.assert_allclose(adjust_pvalues(pvalues), expected, rtol=1e-12)
    np.testing.assert_allclose(adjust_pvalues(pvalues, method="bonferroni")[:2], [0.01, 0.08])

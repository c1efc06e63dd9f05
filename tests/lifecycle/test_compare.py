"""The paired bootstrap that decides between champion and challenger."""

from __future__ import annotations

import numpy as np
import pytest

from modelcycle.core import ValidationError
from modelcycle.evaluation import score
from modelcycle.lifecycle import paired_bootstrap


def _binary(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    weak = np.clip(0.15 * y + 0.85 * rng.random(n), 0, 1)
    strong = np.clip(0.55 * y + 0.45 * rng.random(n), 0, 1)
    return y, weak, strong


def test_a_clearly_better_model_has_an_interval_above_zero() -> None:
    y, weak, strong = _binary(500)
    result = paired_bootstrap(y, weak, strong, "roc_auc", n_resamples=1000, seed=3)
    assert result.metric_a == pytest.approx(score("binary", y, proba=weak)["roc_auc"])
    assert result.metric_b == pytest.approx(score("binary", y, proba=strong)["roc_auc"])
    assert result.improvement == pytest.approx(result.metric_b - result.metric_a)
    assert 0 < result.low < result.improvement < result.high
    assert result.decide(0.0) == "promote" and result.significant
    assert result.decide(result.high) == "keep"  # the bar is above what was shown
    backwards = paired_bootstrap(y, strong, weak, "roc_auc", n_resamples=1000, seed=3)
    assert backwards.high < 0 and backwards.decide() == "keep"


def test_two_identical_models_have_an_interval_around_zero() -> None:
    y, weak, _ = _binary(300)
    result = paired_bootstrap(y, weak, weak.copy(), "roc_auc", n_resamples=1000)
    assert (result.low, result.improvement, result.high) == (0.0, 0.0, 0.0)
    assert not result.significant and result.decide(0.0) == "keep"
    rng = np.random.default_rng(1)
    noisy = np.clip(weak + rng.normal(0, 0.01, len(weak)), 0, 1)
    close = paired_bootstrap(y, weak, noisy, "roc_auc", n_resamples=1000)
    assert close.low < 0 < close.high and close.decide() == "keep"


def test_a_lucky_tiny_sample_does_not_promote() -> None:
    # Eight rows: the challenger gets every one right, the champion misses one.
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    champion = np.array([0.1, 0.2, 0.3, 0.8, 0.7, 0.9, 0.6, 0.95])
    challenger = np.array([0.1, 0.2, 0.3, 0.4, 0.7, 0.9, 0.6, 0.95])
    result = paired_bootstrap(y, champion, challenger, "accuracy", n_resamples=2000)
    assert result.improvement == pytest.approx(0.125)
    assert result.low <= 0 < result.high
    assert result.decide(0.0) == "keep"


def test_lower_is_better_metrics_count_gains_the_right_way() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=400)
    good, bad = y + rng.normal(0, 0.3, 400), y + rng.normal(0, 1.0, 400)
    result = paired_bootstrap(y, bad, good, "rmse", n_resamples=1000)
    assert result.metric_b < result.metric_a  # smaller error
    assert result.improvement == pytest.approx(result.metric_a - result.metric_b)
    assert result.low > 0 and result.decide(0.1) == "promote"
    loss = paired_bootstrap(*_binary(400), "log_loss", n_resamples=1000)
    assert loss.improvement > 0 and loss.low > 0


def test_multiclass_probabilities_are_compared() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 600)
    sharp = np.eye(3)[y] * 0.6 + 0.4 * rng.dirichlet(np.ones(3), 600)
    blurred = 0.5 * sharp + 0.5 * rng.dirichlet(np.ones(3), 600)
    result = paired_bootstrap(y, blurred, sharp, "accuracy", n_resamples=1000)
    assert result.low > 0


def test_same_seed_same_interval_and_json_safe() -> None:
    y, weak, strong = _binary(200)
    first = paired_bootstrap(y, weak, strong, "roc_auc", n_resamples=1000, seed=7)
    assert first == paired_bootstrap(y, weak, strong, "roc_auc", n_resamples=1000, seed=7)
    one_class = paired_bootstrap(np.ones(5), np.full(5, 0.4), np.full(5, 0.6), "roc_auc")
    assert np.isnan(one_class.low) and one_class.decide() == "keep"
    assert one_class.to_dict()["low"] is None and one_class.to_dict()["n"] == 5


def test_bad_inputs_are_refused_with_reasons() -> None:
    with pytest.raises(ValidationError, match="one value per row; got 3 labels and 3 and 2"):
        paired_bootstrap([0, 1, 0], [0.1, 0.2, 0.3], [0.1, 0.2], "roc_auc")
    with pytest.raises(ValidationError, match="metric 'rmse' does not apply to binary"):
        paired_bootstrap([0, 1], [0.1, 0.2], [0.1, 0.2], "rmse", task="binary")
    with pytest.raises(ValidationError, match="at least 2 rows"):
        paired_bootstrap([1], [0.1], [0.2], "accuracy")

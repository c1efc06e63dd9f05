"""Permutation importance ranks planted signal first; contribution summaries fit LightGBM's."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from modelcycle.core import ValidationError
from modelcycle.evaluation import (
    ContributionSummary,
    PermutationImportance,
    permutation_importance,
    summarise_contributions,
    top_contributions,
)
from tests.evaluation.conftest import Holdout

NAMES = ["signal", "weak", "noise_a", "noise_b"]


def planted(seed: int, n: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    logit = 3.0 * X[:, 0] + 0.7 * X[:, 1]
    return X, (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)


def test_planted_feature_ranks_first_and_noise_is_near_zero() -> None:
    X, y = planted(0)
    model = LogisticRegression().fit(X[:1000], y[:1000])
    result = permutation_importance(
        lambda a: model.predict_proba(a)[:, 1], X[1000:], y[1000:], "binary", feature_names=NAMES
    )
    ranked = {f.feature: f for f in result.features}
    assert [f.feature for f in result.features][:2] == ["signal", "weak"]
    assert ranked["signal"].mean > 0.2 and ranked["weak"].mean > 0.01
    for name in ("noise_a", "noise_b"):
        assert abs(ranked[name].mean) < 0.005 and ranked[name].std < 0.005
    assert result.metric == "roc_auc" and result.n_repeats == 5
    assert PermutationImportance.from_dict(result.to_dict()) == result


def test_lower_is_better_metrics_still_report_positive_drops() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 3))
    y = 2.0 * X[:, 0] + 0.1 * rng.normal(size=600)
    model = LinearRegression().fit(X, y)
    for metric in ("rmse", "mae", "r2"):
        result = permutation_importance(
            model.predict, X, y, "regression", feature_names=["x", "y", "z"], metric=metric
        )
        assert result.features[0].feature == "x" and result.features[0].mean > 0.5


def test_seeded_and_repeatable_on_real_data(cancer: Holdout) -> None:
    def run(seed: int) -> PermutationImportance:
        return permutation_importance(
            cancer.predict_fn,
            cancer.frame.to_numpy(),
            cancer.y,
            "binary",
            feature_names=list(cancer.frame.columns),
            n_repeats=3,
            random_state=seed,
            metric="log_loss",
        )

    first = run(0)
    assert run(0) == first and run(1) != first
    assert first.baseline == pytest.approx(0.0862, abs=0.05)
    assert first.features[0].mean > 0.01


def test_multiclass_importance_uses_log_loss() -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(900, 2))
    y = np.digitize(X[:, 0], [-0.5, 0.5])  # three classes from the first feature only
    model = LogisticRegression().fit(X, y)
    result = permutation_importance(
        model.predict_proba, X, y, "multiclass", feature_names=["a", "b"]
    )
    assert result.metric == "log_loss" and result.features[0].feature == "a"
    assert abs(result.features[1].mean) < 0.01


def test_bad_arguments_are_named() -> None:
    X, y = planted(3, 50)
    with pytest.raises(ValidationError, match=r"X has shape \(50, 4\) but 3 feature_names"):
        permutation_importance(lambda a: a[:, 0], X, y, "binary", feature_names=NAMES[:3])
    with pytest.raises(ValidationError, match="'accuracy_score' is not known"):
        permutation_importance(
            lambda a: a[:, 0], X, y, "binary", feature_names=NAMES, metric="accuracy_score"
        )
    with pytest.raises(ValidationError, match=r"predict_fn returned shape \(50,\) for 250 rows"):
        permutation_importance(lambda a: a[:50, 0] > 0, X, y, "binary", feature_names=NAMES)


@pytest.fixture(scope="module")
def lightgbm_models() -> dict[str, tuple[lgb.Booster, np.ndarray]]:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(500, 4))
    targets = {
        "binary": (X[:, 0] + 0.3 * rng.normal(size=500) > 0).astype(int),
        "multiclass": np.digitize(X[:, 1], [-0.5, 0.5]),
        "regression": 2.0 * X[:, 2] + X[:, 0],
    }
    params = {"verbose": -1, "num_leaves": 7, "seed": 0, "num_threads": 1}
    extra = {"binary": {"objective": "binary"}, "regression": {"objective": "regression"}}
    extra["multiclass"] = {"objective": "multiclass", "num_class": 3}
    models = {}
    for task, y in targets.items():
        booster = lgb.train({**params, **extra[task]}, lgb.Dataset(X, y), num_boost_round=20)
        models[task] = (booster, X)
    return models


@pytest.mark.parametrize(("task", "top"), [("binary", "signal"), ("regression", "noise_a")])
def test_lightgbm_contributions_are_summarised(
    lightgbm_models: dict[str, tuple[lgb.Booster, np.ndarray]], task: str, top: str
) -> None:
    booster, X = lightgbm_models[task]
    contrib = booster.predict(X, pred_contrib=True)
    summary = summarise_contributions(contrib, NAMES)
    assert summary.n_rows == 500 and summary.n_outputs == 1
    assert summary.features[0].feature == top
    assert summary.features[0].mean_abs == pytest.approx(
        np.abs(contrib[:, NAMES.index(top)]).mean()
    )
    assert summary.expected_value[0] == pytest.approx(contrib[:, -1].mean())
    assert ContributionSummary.from_dict(summary.to_dict()) == summary
    raw = booster.predict(X[:1], raw_score=True)[0]
    top_k = top_contributions(contrib[0], NAMES, k=4, values=list(X[0]))
    assert sum(c.contribution for c in top_k) + contrib[0, -1] == pytest.approx(raw)
    assert [abs(c.contribution) for c in top_k] == sorted(
        (abs(c.contribution) for c in top_k), reverse=True
    )


def test_lightgbm_multiclass_contributions_have_one_block_per_class(
    lightgbm_models: dict[str, tuple[lgb.Booster, np.ndarray]],
) -> None:
    booster, X = lightgbm_models["multiclass"]
    contrib = booster.predict(X, pred_contrib=True)
    summary = summarise_contributions(contrib, NAMES)
    assert summary.n_outputs == 3 and len(summary.expected_value) == 3
    assert summary.features[0].feature == "weak"  # the class is read off the second column
    class_2 = top_contributions(contrib[0], NAMES, k=1, output=2)[0]
    assert class_2.contribution == pytest.approx(
        contrib[0, 2 * 5 : 2 * 5 + 4][np.argmax(np.abs(contrib[0, 10:14]))]
    )
    with pytest.raises(ValidationError, match="expected \\(n, 5\\) or \\(n, k \\* 5\\)"):
        summarise_contributions(contrib[:, :7], NAMES)

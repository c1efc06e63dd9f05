"""Fitted models as users log them: the corpus the skops allow-list is built from.

Every type name in ``modelcycle.learners.ALLOWED_TYPES`` must be needed by at least one
model here, and every model here must load through the allow-list with identical
predictions (``test_skops_allow_list.py``). To allow a new type, add the model that
needs it to this corpus first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn import (
    discriminant_analysis,
    ensemble,
    linear_model,
    naive_bayes,
    neighbors,
    neural_network,
    svm,
    tree,
)
from sklearn.calibration import CalibratedClassifierCV
from sklearn.cluster import KMeans
from sklearn.compose import (
    ColumnTransformer,
    TransformedTargetRegressor,
    make_column_selector,
    make_column_transformer,
)
from sklearn.decomposition import PCA, TruncatedSVD
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.feature_selection import SelectFromModel, VarianceThreshold
from sklearn.impute import IterativeImputer, KNNImputer, MissingIndicator, SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.kernel_ridge import KernelRidge
from sklearn.model_selection import GridSearchCV
from sklearn.multiclass import OneVsRestClassifier
from sklearn.multioutput import MultiOutputRegressor
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline
from sklearn.preprocessing import (
    Binarizer,
    FunctionTransformer,
    KBinsDiscretizer,
    MaxAbsScaler,
    MinMaxScaler,
    Normalizer,
    OneHotEncoder,
    OrdinalEncoder,
    PolynomialFeatures,
    PowerTransformer,
    QuantileTransformer,
    RobustScaler,
    StandardScaler,
    TargetEncoder,
)

Case = tuple[Any, Any, Any]  # unfitted model, X, y


def customers(n: int = 240, seed: int = 0) -> pd.DataFrame:
    """A mixed table: numbers with gaps, small integers, text categories, free text."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "income": rng.normal(50, 10, n),
            "age": rng.normal(40, 12, n),
            "visits": rng.integers(0, 10, n),
            "plan": rng.choice(["basic", "plus", "pro"], n),
            "region": rng.choice(["north", "south"], n),
        }
    )
    frame.loc[::7, "income"] = np.nan
    return frame


def _targets(frame: pd.DataFrame) -> dict[str, pd.Series]:
    rng = np.random.default_rng(1)
    return {
        "binary": (frame["age"] > 40).astype(int),
        "labels": pd.Series(np.where(frame["age"] > 40, "stay", "leave")),
        "multiclass": pd.Series(rng.choice(["red", "green", "blue"], len(frame))),
        "regression": frame["age"] * 2.0 + rng.normal(size=len(frame)),
    }


def _preprocessors() -> dict[str, Callable[[], Any]]:
    """ColumnTransformers as users write them: names, slices, booleans, selectors."""

    def numbers() -> Pipeline:
        return make_pipeline(SimpleImputer(strategy="median"), StandardScaler())

    return {
        "names+passthrough": lambda: ColumnTransformer(
            [
                ("num", numbers(), ["income", "age"]),
                ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan", "region"]),
                ("keep", "passthrough", ["visits"]),
            ]
        ),
        "slices+drop": lambda: ColumnTransformer(
            [
                ("num", numbers(), slice(0, 2)),
                ("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), [3]),
                ("gone", "drop", [4]),
            ],
            remainder="passthrough",
        ),
        "selectors": lambda: make_column_transformer(
            (numbers(), make_column_selector(dtype_include="number")),
            (
                OneHotEncoder(sparse_output=False, min_frequency=5),
                make_column_selector(dtype_include=object),
            ),
        ),
        "booleans+target": lambda: ColumnTransformer(
            [
                ("num", numbers(), [True, True, True, False, False]),
                ("cat", TargetEncoder(random_state=0), ["plan"]),
            ]
        ),
    }


def _final_estimators() -> dict[str, tuple[Callable[[], Any], str]]:
    return {
        "logistic": (lambda: linear_model.LogisticRegression(max_iter=500), "binary"),
        "logistic-labels": (lambda: linear_model.LogisticRegression(max_iter=500), "labels"),
        "forest": (
            lambda: ensemble.RandomForestClassifier(n_estimators=5, random_state=0),
            "multiclass",
        ),
        "lgbm-classifier": (lambda: lgb.LGBMClassifier(n_estimators=5, verbose=-1), "binary"),
        "lgbm-multiclass": (lambda: lgb.LGBMClassifier(n_estimators=5, verbose=-1), "multiclass"),
        "lgbm-regressor": (lambda: lgb.LGBMRegressor(n_estimators=5, verbose=-1), "regression"),
        "xgb-classifier": (lambda: xgb.XGBClassifier(n_estimators=5), "binary"),
        "hist-gradient-boosting": (
            lambda: ensemble.HistGradientBoostingClassifier(max_iter=5),
            "binary",
        ),
        "ridge": (lambda: linear_model.Ridge(), "regression"),
    }


def _tabular_pipelines() -> Iterator[tuple[str, Case]]:
    frame = customers()
    targets = _targets(frame)
    for pre_name, pre in _preprocessors().items():
        for est_name, (est, target) in _final_estimators().items():
            X = frame.to_numpy(dtype=object) if pre_name == "slices+drop" else frame
            if pre_name == "slices+drop" and est_name.startswith("xgb"):
                continue  # XGBoost refuses object matrices
            yield f"{pre_name}/{est_name}", (make_pipeline(pre(), est()), X, targets[target])


def _matrix_cases() -> Iterator[tuple[str, Case]]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    binary = (X[:, 0] > 0).astype(int)
    three = binary + (X[:, 1] > 0)
    value = X @ np.arange(1.0, 6.0) + rng.normal(size=200)
    positive = np.abs(value) + 1.0
    lm, ens = linear_model, ensemble
    classifiers = {
        "logistic-cv": lm.LogisticRegressionCV(max_iter=300),
        "logistic-weights": lm.LogisticRegression(class_weight={0: 1.0, 1: 2.0}),
        "ridge-classifier": lm.RidgeClassifier(),
        "sgd-hinge": lm.SGDClassifier(random_state=0),
        "sgd-log": lm.SGDClassifier(loss="log_loss", random_state=0),
        "sgd-modified-huber": lm.SGDClassifier(loss="modified_huber", random_state=0),
        "perceptron": lm.Perceptron(),
        "tree": tree.DecisionTreeClassifier(random_state=0),
        "extra-trees": ens.ExtraTreesClassifier(n_estimators=3, random_state=0),
        "random-state-object": ens.RandomForestClassifier(
            n_estimators=3, random_state=np.random.RandomState(0)
        ),
        "gradient-boosting": ens.GradientBoostingClassifier(n_estimators=3),
        "gradient-boosting-exponential": ens.GradientBoostingClassifier(
            n_estimators=3, loss="exponential"
        ),
        "adaboost": ens.AdaBoostClassifier(n_estimators=3),
        "bagging": ens.BaggingClassifier(n_estimators=3),
        "voting": ens.VotingClassifier(
            [("a", lm.LogisticRegression()), ("b", naive_bayes.GaussianNB())], voting="soft"
        ),
        "stacking": ens.StackingClassifier(
            [("a", lm.LogisticRegression()), ("b", naive_bayes.GaussianNB())]
        ),
        "knn": neighbors.KNeighborsClassifier(),
        "knn-ball-tree": neighbors.KNeighborsClassifier(algorithm="ball_tree"),
        "svc": svm.SVC(probability=True, random_state=0),
        "linear-svc": svm.LinearSVC(),
        "bernoulli-nb": naive_bayes.BernoulliNB(),
        "mlp": neural_network.MLPClassifier(hidden_layer_sizes=(5,), max_iter=20, random_state=0),
        "dummy": DummyClassifier(),
        "calibrated": CalibratedClassifierCV(lm.LogisticRegression(), cv=3),
        "grid-search": GridSearchCV(lm.LogisticRegression(), {"C": [0.1, 1.0]}, cv=3),
        "xgboost": xgb.XGBClassifier(n_estimators=3),
        "pca": make_pipeline(PCA(n_components=3), lm.LogisticRegression()),
        "truncated-svd": make_pipeline(TruncatedSVD(n_components=3), lm.LogisticRegression()),
        "scalers": make_pipeline(
            MinMaxScaler(),
            RobustScaler(),
            MaxAbsScaler(),
            PowerTransformer(),
            QuantileTransformer(n_quantiles=50),
            Normalizer(),
            PolynomialFeatures(2),
            KBinsDiscretizer(n_bins=3, encode="ordinal", quantile_method="averaged_inverted_cdf"),
            Binarizer(),
            FunctionTransformer(),
            lm.LogisticRegression(),
        ),
        "selection": make_pipeline(
            VarianceThreshold(), SelectFromModel(lm.LogisticRegression()), lm.LogisticRegression()
        ),
        "union": make_pipeline(
            FeatureUnion([("p", PCA(n_components=2)), ("s", StandardScaler())]),
            lm.LogisticRegression(),
        ),
        "knn-imputer": make_pipeline(KNNImputer(), lm.LogisticRegression()),
    }
    for name, model in classifiers.items():
        yield f"classifier/{name}", (model, X, binary)
    multiclass = ens.GradientBoostingClassifier(n_estimators=3)
    yield "classifier/gradient-boosting-multiclass", (multiclass, X, three)
    yield "classifier/multinomial-nb", (naive_bayes.MultinomialNB(), np.abs(X), binary)
    regressors = {
        "linear": lm.LinearRegression(),
        "lasso": lm.Lasso(),
        "lasso-cv": lm.LassoCV(),
        "elastic-net": lm.ElasticNet(),
        "ridge-cv": lm.RidgeCV(),
        "bayesian-ridge": lm.BayesianRidge(),
        "huber": lm.HuberRegressor(),
        "quantile": lm.QuantileRegressor(solver="highs"),
        "sgd": lm.SGDRegressor(random_state=0),
        "sgd-epsilon": lm.SGDRegressor(loss="epsilon_insensitive", random_state=0),
        "tree": tree.DecisionTreeRegressor(random_state=0),
        "forest": ens.RandomForestRegressor(n_estimators=3, random_state=0),
        "extra-trees": ens.ExtraTreesRegressor(n_estimators=3, random_state=0),
        "gradient-boosting": ens.GradientBoostingRegressor(n_estimators=3),
        "gradient-boosting-huber": ens.GradientBoostingRegressor(n_estimators=3, loss="huber"),
        "gradient-boosting-quantile": ens.GradientBoostingRegressor(
            n_estimators=3, loss="quantile"
        ),
        "gradient-boosting-absolute": ens.GradientBoostingRegressor(
            n_estimators=3, loss="absolute_error"
        ),
        "hist-gradient-boosting": ens.HistGradientBoostingRegressor(max_iter=3),
        "hist-gradient-boosting-quantile": ens.HistGradientBoostingRegressor(
            max_iter=3, loss="quantile", quantile=0.3
        ),
        "adaboost": ens.AdaBoostRegressor(n_estimators=3),
        "bagging": ens.BaggingRegressor(n_estimators=3),
        "voting": ens.VotingRegressor([("a", lm.Ridge()), ("b", lm.Lasso())]),
        "stacking": ens.StackingRegressor([("a", lm.Ridge()), ("b", lm.Lasso())]),
        "knn": neighbors.KNeighborsRegressor(),
        "svr": svm.SVR(),
        "linear-svr": svm.LinearSVR(),
        "mlp": neural_network.MLPRegressor(hidden_layer_sizes=(5,), max_iter=20, random_state=0),
        "dummy": DummyRegressor(),
        "transformed-target": TransformedTargetRegressor(lm.Ridge(), transformer=StandardScaler()),
        "lightgbm": lgb.LGBMRegressor(n_estimators=3, verbose=-1),
        "xgboost": xgb.XGBRegressor(n_estimators=3),
    }
    for name, model in regressors.items():
        yield f"regressor/{name}", (model, X, value)
    for name, model in {
        "poisson": lm.PoissonRegressor(),
        "gamma": lm.GammaRegressor(),
        "tweedie": lm.TweedieRegressor(),
        "hist-gradient-boosting-poisson": ens.HistGradientBoostingRegressor(
            max_iter=3, loss="poisson"
        ),
        "hist-gradient-boosting-gamma": ens.HistGradientBoostingRegressor(max_iter=3, loss="gamma"),
    }.items():
        yield f"regressor/{name}", (model, X, positive)
    yield (
        "classifier/hist-gradient-boosting-multiclass",
        (
            ens.HistGradientBoostingClassifier(max_iter=3),
            X,
            three,
        ),
    )


def _typed_cases() -> Iterator[tuple[str, Case]]:
    """Parameters and data whose Python or NumPy types end up in the file."""
    frame = customers()
    y = (frame["age"] > 40).astype(int)
    for dtype in (float, int, bool, np.float32, np.float64, np.int32, np.int64, np.uint8):
        encoder = OneHotEncoder(dtype=dtype, handle_unknown="ignore", sparse_output=False)
        model = make_pipeline(
            make_column_transformer((encoder, ["plan"])), linear_model.LogisticRegression()
        )
        yield f"one-hot-dtype/{dtype.__module__}.{dtype.__name__}", (model, frame, y)
    text = pd.DataFrame({"note": [f"word{i % 7} other{i % 3} thing" for i in range(len(frame))]})
    model = make_pipeline(
        make_column_transformer((TfidfVectorizer(), "note")), linear_model.LogisticRegression()
    )
    yield "text/tfidf", (model, text, y)
    yield "labels/bool", (linear_model.LogisticRegression(), frame[["age"]], y.astype(bool))


def _more_cases() -> Iterator[tuple[str, Case]]:
    """Less common estimators users still serve (each one adds its own class)."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(120, 4))
    binary, three = (X[:, 0] > 0).astype(int), (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    value = X @ np.arange(1.0, 5.0)
    codes = rng.integers(0, 4, size=(120, 3))
    lm = linear_model
    cases: dict[str, Case] = {
        "lda": (discriminant_analysis.LinearDiscriminantAnalysis(), X, binary),
        "qda": (discriminant_analysis.QuadraticDiscriminantAnalysis(), X, binary),
        "complement-nb": (naive_bayes.ComplementNB(), np.abs(X), binary),
        "categorical-nb": (naive_bayes.CategoricalNB(), codes, binary),
        "kernel-ridge": (KernelRidge(), X, value),
        "nu-svc": (svm.NuSVC(), X, binary),
        "nu-svr": (svm.NuSVR(), X, value),
        "one-vs-rest": (OneVsRestClassifier(lm.LogisticRegression()), X, three),
        "multi-output": (MultiOutputRegressor(lm.Ridge()), X, np.c_[value, -value]),
        "iterative-imputer": (
            make_pipeline(IterativeImputer(), lm.LogisticRegression()),
            X,
            binary,
        ),
        "missing-indicator": (
            make_pipeline(
                FeatureUnion([("s", StandardScaler()), ("m", MissingIndicator(features="all"))]),
                lm.LogisticRegression(),
            ),
            X,
            binary,
        ),
        "isotonic": (IsotonicRegression(), X[:, 0], value),
        "kmeans": (KMeans(n_clusters=3, n_init=1, random_state=0), X, None),
        "isolation-forest": (ensemble.IsolationForest(n_estimators=3, random_state=0), X, None),
        "ard": (lm.ARDRegression(), X, value),
        "lars": (lm.Lars(), X, value),
        "omp": (lm.OrthogonalMatchingPursuit(), X, value),
        "elastic-net-cv": (lm.ElasticNetCV(), X, value),
        "ridge-classifier-cv": (lm.RidgeClassifierCV(), X, binary),
        "nearest-centroid": (neighbors.NearestCentroid(), X, binary),
        "radius-neighbors": (neighbors.RadiusNeighborsClassifier(radius=5.0), X, binary),
        "sgd-squared-hinge": (lm.SGDClassifier(loss="squared_hinge", random_state=0), X, binary),
    }
    yield from cases.items()
    text = pd.DataFrame({"note": [f"a{i % 5} b{i % 3}" for i in range(120)]})
    counts = make_column_transformer((CountVectorizer(), "note"))
    yield "text/count", (make_pipeline(counts, lm.LogisticRegression()), text, binary)


def corpus() -> dict[str, Case]:
    """Every case, by name: the unfitted model, its inputs and its target."""
    return dict([*_tabular_pipelines(), *_matrix_cases(), *_typed_cases(), *_more_cases()])


def fitted() -> dict[str, Any]:
    """Every corpus model, fitted on its data (a few seconds in all)."""
    return {name: model.fit(X, y) for name, (model, X, y) in corpus().items()}

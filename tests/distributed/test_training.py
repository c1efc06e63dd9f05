"""Training on a Parquet dataset that is never collected to one machine (issue 16).

A real ``LocalCluster`` (processes, 2 workers, a memory limit) reads the partitions,
summarises them and trains ``lightgbm.dask``; the model is then served and scored by the
normal single-machine paths.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

import modelcycle as mc
from distributed import Client
from modelcycle.core import Task, ValidationError
from modelcycle.distributed._dataset import holdout_mask
from modelcycle.features import CategoricalEncoder, NumericBlock, Preprocessor
from modelcycle.learners import LightGBMLearner
from modelcycle.records import TrainingRecord
from modelcycle.serving import ServeSettings, create_app
from tests.conftest import ObjectStore
from tests.models import run_cli
from tests.serving.conftest import wait_ready

ROWS, PARTS, SAMPLE = 12_000, 6, 2_000


def dataset(rows: int = ROWS, seed: int = 0) -> pd.DataFrame:
    """Two numbers (one with missing values), a city of 40 common and 30 rare levels, a flag."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=rows), rng.uniform(size=rows)
    common = [f"c{i:02d}" for i in range(40)]
    city = rng.choice(common, size=rows).astype(object)
    rare = rng.random(rows) < 0.004  # ~48 rows over 30 levels: each well under 1% of rows
    city[rare] = rng.choice([f"r{i:02d}" for i in range(30)], size=int(rare.sum()))
    effect = np.array([(int(c[1:]) % 5 - 2) * 0.5 if c[0] == "c" else 1.0 for c in city])
    flag = rng.random(rows) < 0.3
    logit = 1.5 * x1 - x2 + effect + 0.8 * flag
    label = np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), "yes", "no")
    x1[rng.random(rows) < 0.05] = np.nan
    return pd.DataFrame({"x1": x1, "x2": x2, "city": city, "flag": flag, "label": label})


def write_parts(frame: pd.DataFrame, folder: Path) -> Path:
    folder.mkdir(parents=True)
    size = math.ceil(len(frame) / PARTS)
    for index in range(PARTS):
        part = frame.iloc[index * size : (index + 1) * size]
        part.to_parquet(folder / f"part-{index}.parquet", index=False)
    return folder


@dataclass
class Trained:
    home: Path
    data: Path
    frame: pd.DataFrame


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, dask_cluster: str) -> Trained:
    """``train --cluster --distributed-data`` on six partitions, registered as ``big``."""
    root = tmp_path_factory.mktemp("dasktrain")
    frame = dataset()
    data = write_parts(frame, root / "data")
    from modelcycle.cli import main  # a module fixture has no capsys: run the CLI directly

    code = 0
    try:
        main(
            ["-w", str(root / "ws"), "train", str(data), "--target", "label", "--name", "big",
             "--budget", "40", "--cluster", dask_cluster, "--distributed-data",
             "--sample-rows", str(SAMPLE), "--json"]
        )  # fmt: skip
    except SystemExit as exit:
        code = int(exit.code or 0)
    assert code == 0
    return Trained(root / "ws", data, frame)


def _split(frame: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The train and holdout rows as the cluster split them, partition by partition."""
    size = math.ceil(len(frame) / PARTS)
    parts = [frame.iloc[i * size : (i + 1) * size].reset_index(drop=True) for i in range(PARTS)]
    masks = [holdout_mask(p, 0.2, seed) for p in parts]
    train = pd.concat([p[~m] for p, m in zip(parts, masks, strict=True)], ignore_index=True)
    test = pd.concat([p[m] for p, m in zip(parts, masks, strict=True)], ignore_index=True)
    return train, test


def _record(home: Path, ref: str = "big/1") -> tuple[mc.Workspace, TrainingRecord]:
    ws = mc.Workspace(home)
    version = ws.registry.resolve(ref)
    assert version.run_id is not None
    return ws, TrainingRecord(ws.get_run(version.run_id))


def test_the_model_is_a_lightgbm_pipeline_with_every_train_row_behind_it(
    trained: Trained,
) -> None:
    train, test = _split(trained.frame)
    ws, record = _record(trained.home)
    with ws:
        pipeline = ws.registry.load("big/1").native
        metrics = ws.get_run(record.run.run_id).metrics
    [member] = pipeline.members
    assert isinstance(member.learner, LightGBMLearner)
    assert metrics["cluster_train_rows"] == len(train)
    assert metrics["cluster_test_rows"] == len(test)
    assert metrics["sample_rows"] <= SAMPLE * 1.2
    # A validation slice chose the rounds: kept out of the fit, at most what was trained.
    assert 0 < metrics["cluster_validation_rows"] < 0.15 * len(train)
    assert 1 <= metrics["cluster_rounds"] <= metrics["cluster_rounds_trained"]
    assert member.learner.booster_.num_trees() == metrics["cluster_rounds"]


def test_categories_and_medians_come_from_the_whole_train_part(trained: Trained) -> None:
    train, _ = _split(trained.frame)
    ws, record = _record(trained.home)
    with ws:
        pipeline = ws.registry.load("big/1").native
    [pre] = pipeline.preprocessors.values()
    # The city column is encoded as the search's best LightGBM trial encoded it, learnt
    # from every train row: what the same preprocessing fitted on them all would be.
    best = next(
        t for t in record.leaderboard if t["learner"] == "lightgbm" and t["status"] == "COMPLETE"
    )  # the leaderboard is best first
    whole = clone(pre).fit(train.drop(columns="label"), train["label"])
    _same_encoders(pre, whole)
    if best["encoding"] == "drop":
        assert "city" not in _categorical(pre)
    else:
        assert _categorical(pre)["city"]["encoding"] == {"fine": "native"}.get(
            best["encoding"], best["encoding"]
        )
    [block] = [e for e in pre.encoders_ if isinstance(e, NumericBlock)]
    saved = block.to_dict()
    names = [s["name"] for s in saved["sources"]]
    assert math.isclose(saved["fill"][names.index("x1")], train["x1"].median(), abs_tol=0.01)
    assert [names[i] for i in saved["indicators"]] == ["x1"]


def _categorical(pre: Preprocessor) -> dict[str, dict[str, Any]]:
    """Each categorical encoder's saved form."""
    return {e.column: e.to_dict() for e in pre.encoders_ if isinstance(e, CategoricalEncoder)}


def _same_encoders(ours: Preprocessor, theirs: Preprocessor) -> None:
    """The same categorical encoders; tables (target means) equal up to rounding."""
    left, right = _categorical(ours), _categorical(theirs)
    assert left.keys() == right.keys()
    for column, item in left.items():
        other = right[column]
        assert {k: v for k, v in item.items() if k != "table"} == {
            k: v for k, v in other.items() if k != "table"
        }
        assert np.allclose(item.get("table", []), other.get("table", [])), column


#: The encodings the search tries for a many-valued column, as its preprocessing sets them.
SEARCHED = {
    "native": {},
    "fine": {"rare_min_frequency": 5},
    "count": {"column_encodings": {"city": "count"}},
    "target": {"column_encodings": {"city": "target"}},
    "drop": {"column_encodings": {"city": "drop"}},
}


@pytest.mark.parametrize("encoding", list(SEARCHED))
@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_each_searched_encoding_is_learnt_from_the_partitions_as_from_all_rows(
    encoding: str, kind: str
) -> None:
    from modelcycle.data import infer_schema
    from modelcycle.distributed._dataset import train_rows
    from modelcycle.distributed._lightgbm import PreprocessingStatistics, target_folds

    frame = dataset(6_000, seed=2)
    if kind == "multiclass":
        frame["label"] = np.where(frame["x2"] < 0.3, "low", frame["label"])
    elif kind == "regression":
        frame["label"] = frame["x2"] * 3 + frame["city"].str.len() + frame["flag"]
    train = train_rows(frame, 0.2, 0).reset_index(drop=True)
    inputs = train.drop(columns="label")
    sample = train.sample(n=700, random_state=0)
    sampled = Preprocessor(
        schema=infer_schema(inputs), encoding="native", random_state=0, **SEARCHED[encoding]
    ).fit(sample.drop(columns="label"), sample["label"])
    statistics = PreprocessingStatistics(sampled, "label", sample_target=sample["label"], seed=0)
    cuts = [0, 17, 1_900, 2_000, 4_100, len(train)]  # uneven partitions, one of 17 rows
    parts = [statistics(train.iloc[a:b]) for a, b in itertools.pairwise(cuts)]
    fitted = statistics.fit(parts, len(train))
    whole = clone(sampled).fit(inputs, train["label"])
    _same_encoders(fitted.preprocessor, whole)
    # Rows the fit never read are encoded from every train row, as on one machine.
    test = frame.drop(columns="label").tail(300)
    assert np.allclose(fitted.preprocessor.transform(test), whole.transform(test), atol=0.02)
    X = fitted.transform(train)
    if encoding != "target":
        assert np.array_equal(X, fitted.preprocessor.transform(train), equal_nan=True)
        return
    # A train row's target encoding is the smoothed mean of the other folds' rows of its
    # city, computed here row by row from its definition.
    [(start, encoder)] = fitted.preprocessor.target_encoders()
    folds = target_folds(train, 5, seed=0)
    assert np.bincount(folds).min() > len(train) / 10  # five folds of about a fifth
    values = _target_matrix(train["label"], kind)
    smoothing = float(sampled.target_smoothing)
    for row in np.random.default_rng(0).choice(len(train), size=40, replace=False):
        others = folds != folds[row]
        prior = values[others].mean(axis=0)
        same = others & (train["city"] == train["city"].iloc[row]).to_numpy()
        expected = (values[same].sum(axis=0) + smoothing * prior) / (same.sum() + smoothing)
        got = X[row, start : start + len(encoder.suffixes)]
        assert np.allclose(got, expected), (row, got, expected)


def _target_matrix(labels: pd.Series, kind: str) -> np.ndarray:
    if kind == "regression":
        return labels.to_numpy(dtype=float)[:, None]
    classes = sorted(set(labels))
    codes = np.array([classes.index(v) for v in labels])
    if kind == "binary":
        return (codes == 1).astype(float)[:, None]
    return (codes[:, None] == np.arange(len(classes))).astype(float)


def test_the_profile_and_fingerprints_cover_every_row(trained: Trained) -> None:
    train, test = _split(trained.frame)
    ws, record = _record(trained.home)
    with ws:
        profile = record.profile
        datasets = {d["role"]: d for d in ws.get_run(record.run.run_id).datasets}
    assert profile.rows == len(train)
    assert profile["x1"].missing == int(train["x1"].isna().sum())
    city = profile["city"].summary
    assert city is not None
    assert city.distinct == train["city"].nunique()  # type: ignore[union-attr]
    assert dict(city.top) == dict(Counter(train["city"]).most_common(20))  # type: ignore[union-attr]
    x2 = profile["x2"].summary
    assert sum(x2.histogram.counts) == len(train)  # type: ignore[union-attr]
    assert math.isclose(x2.mean, train["x2"].mean(), rel_tol=1e-9)  # type: ignore[union-attr]
    assert math.isclose(x2.std, train["x2"].std(), rel_tol=1e-9)  # type: ignore[union-attr]
    assert abs(x2.quantiles[50] - train["x2"].median()) < 0.02  # type: ignore[union-attr]
    assert datasets["train"]["rows"] == len(train) and datasets["test"]["rows"] == len(test)


def test_the_holdout_report_scores_every_holdout_row(trained: Trained) -> None:
    _, test = _split(trained.frame)
    ws, record = _record(trained.home)
    with ws:
        proba = ws.registry.load("big/1").native.predict_proba(test.drop(columns=["label"]))
    evaluation = record.evaluation
    assert evaluation is not None
    expected = roc_auc_score(test["label"] == "yes", proba[:, 1])
    assert math.isclose(evaluation.metrics["roc_auc"], expected, rel_tol=1e-9)
    assert evaluation.metrics["roc_auc"] > 0.75


def test_the_model_is_served_and_scored_by_the_single_machine_paths(
    trained: Trained, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = trained.frame.drop(columns=["label"]).head(4)
    with mc.Workspace(trained.home) as ws:
        expected = ws.registry.load("big/1").predict_proba(rows)
        app = create_app(ws.services, ServeSettings(models=("big/1",)), auth_required=False)
        with TestClient(app) as client:
            wait_ready(client)
            body = json.loads(rows.to_json(orient="records"))
            response = client.post("/v1/models/big/1/predict", json={"rows": body})
    assert response.status_code == 200, response.text
    assert np.allclose(response.json()["probabilities"], expected, atol=1e-12)
    code, _, err = run_cli(
        capsys, "-w", str(trained.home), "score", "big/1", str(trained.data / "part-0.parquet"),
        "-o", str(tmp_path / "scored.parquet"),
    )  # fmt: skip
    assert code == 0, err
    assert len(pd.read_parquet(tmp_path / "scored.parquet")) == math.ceil(ROWS / PARTS)


def test_a_dataset_in_object_storage_trains_on_the_cluster(
    tmp_path: Path, dask_client: Client, dask_cluster: str, object_store: ObjectStore
) -> None:
    import fsspec

    env = object_store.environment
    dask_client.run(lambda: os.environ.update(env))  # the workers' credentials, as deployed
    local = write_parts(dataset(rows=6_000, seed=1), tmp_path / "data")
    bucket = object_store.url.split("/")[2]
    fsspec.filesystem("s3", skip_instance_cache=True).put(
        str(local), f"{bucket}/data", recursive=True
    )
    with mc.Workspace(tmp_path / "ws", cluster=dask_cluster) as ws:
        result = ws.train(
            f"s3://{bucket}/data", target="label", name="s3", budget=30,
            distributed_data=True, sample_rows=1_000,
        )  # fmt: skip
        assert result.version is not None and result.report.metrics["roc_auc"] > 0.7
        rows = pd.read_parquet(local / "part-0.parquet").drop(columns=["label"])
        assert ws.registry.load("s3/1").predict(rows).shape == (1_000,)


@pytest.mark.parametrize(
    ("source", "cluster", "expected"),
    [
        ("data", False, "needs --cluster|trains on a Dask cluster"),
        ("rows.csv", True, "holds no .parquet files"),
        ("empty", True, "holds no .parquet files"),
        ("data/*.csv", True, "matches no .parquet files"),
        ("no-target", True, "target column 'label' is not in"),
        # rows without a label, in the last partition only (the sample may miss them)
        ("unlabelled", True, r"target 'label' is missing or infinite in 3 of 200 rows"),
        ("infinite", True, r"target 'label' is missing or infinite in 2 of 200 rows"),
    ],
)
def test_what_cannot_train_on_the_cluster_is_refused_clearly(
    tmp_path: Path, dask_cluster: str, source: str, cluster: bool, expected: str
) -> None:
    frame = dataset(rows=200)
    write_parts(frame, tmp_path / "data")
    frame.to_csv(tmp_path / "rows.csv", index=False)
    (tmp_path / "empty").mkdir()
    write_parts(frame.drop(columns=["label"]), tmp_path / "no-target")
    write_parts(
        frame.assign(label=frame["label"].mask(frame.index >= 197)), tmp_path / "unlabelled"
    )
    values = frame["x2"].to_numpy(copy=True)
    values[[5, 199]] = [np.inf, -np.inf]
    write_parts(frame.assign(label=values), tmp_path / "infinite")
    with (
        mc.Workspace(tmp_path / "ws", cluster=dask_cluster if cluster else None) as ws,
        pytest.raises(ValidationError, match=expected),
    ):
        ws.train(str(tmp_path / source), target="label", budget=10, distributed_data=True)


def test_a_dataframe_is_not_distributed_data(tmp_path: Path, dask_cluster: str) -> None:
    with (
        mc.Workspace(tmp_path / "ws", cluster=dask_cluster) as ws,
        pytest.raises(ValidationError, match="reads a Parquet dataset"),
    ):
        ws.train(dataset(rows=100), target="label", budget=10, distributed_data=True)


def test_the_validation_slice_is_left_out_of_the_fit_and_collected_whole() -> None:
    from modelcycle.data import infer_schema
    from modelcycle.distributed._dataset import train_rows
    from modelcycle.distributed._lightgbm import (
        PreprocessingStatistics,
        TrainEncoding,
        WithValidation,
        _encoded,
        target_folds,
    )

    frame = dataset(3_000)
    inputs = frame.drop(columns="label")
    pre = Preprocessor(schema=infer_schema(inputs), encoding="native", random_state=0)
    pre = pre.fit(inputs)
    train = train_rows(frame, 0.2, 0)
    statistics = PreprocessingStatistics(pre, "label", seed=3)
    _, held, folds = WithValidation(statistics, 0.1, seed=0)(train)
    encoding = TrainEncoding(pre)
    fitted, labels = _encoded(frame, encoding, "label", ["no", "yes"], 0.2, 0, 0.1)
    assert fitted.dtype == labels.dtype == np.float32 and fitted.flags.c_contiguous
    assert len(fitted) == len(labels) and len(fitted) + len(held) == len(train)
    assert 0.05 < len(held) / len(train) < 0.15
    # x2 is a unique float per row: the slices share no row.
    seen = set(fitted[:, list(pre.feature_names_).index("x2")].tolist())
    assert len(seen) == len(fitted)
    assert not seen & set(held["x2"].to_numpy(np.float32).tolist())
    # the validation rows' target-encoding folds are those of the rows on their partition
    assert np.array_equal(folds, target_folds(held, 5, seed=3))


@pytest.mark.parametrize("task", [Task.BINARY, Task.MULTICLASS, Task.REGRESSION])
def test_best_rounds_is_the_lowest_validation_loss_of_the_checked_rounds(task: Task) -> None:
    import lightgbm as lgb
    from sklearn.metrics import log_loss, mean_squared_error

    from modelcycle.distributed._lightgbm import best_rounds

    rng = np.random.default_rng(1)
    X = rng.normal(size=(1_500, 4))
    signal = X[:, 0] - X[:, 1] + rng.normal(scale=1.5, size=1_500)
    objective = {"objective": "binary"}
    y = (signal > 0).astype(float)
    if task is Task.MULTICLASS:
        y, objective = np.digitize(signal, [-1.0, 1.0]).astype(float), {
            "objective": "multiclass", "num_class": 3}  # fmt: skip
    elif task is Task.REGRESSION:
        y, objective = signal, {"objective": "regression"}
    params = {**objective, "verbosity": -1, "num_leaves": 63, "learning_rate": 0.2}
    booster = lgb.train(params, lgb.Dataset(X[:1_000], y[:1_000]), num_boost_round=120)
    valid_X, valid_y = X[1_000:], y[1_000:]

    def loss(rounds: int) -> float:
        predicted = booster.predict(valid_X, num_iteration=rounds)
        if task is Task.REGRESSION:
            return float(mean_squared_error(valid_y, predicted))
        return float(log_loss(valid_y, predicted, labels=np.unique(y)))

    checked = [*range(10, 120, 10), 120]
    expected = min(checked, key=lambda r: (loss(r), r))
    assert best_rounds(booster, valid_X, valid_y, task) == expected < 120


def test_the_encoding_is_one_task_not_a_copy_inside_every_partition_task() -> None:
    import pickle
    from types import SimpleNamespace

    import dask.dataframe as dd

    from modelcycle.distributed._lightgbm import encoded_partitions

    # an encoding with 8 MB of tables, as an identifier-like target-encoded column has
    tables = np.zeros(2**20)
    encoding: Any = SimpleNamespace(tables=tables)
    frame = dd.from_pandas(dataset(rows=600), npartitions=PARTS)
    encode = encoded_partitions(
        frame, encoding, target="label", classes=["no", "yes"], test_size=0.2, seed=0
    )
    graph = {key: task for part in encode for key, task in dict(part.__dask_graph__()).items()}
    sizes = sorted(len(pickle.dumps(task)) for task in graph.values())
    assert len(encode) == PARTS and sizes[-1] > tables.nbytes  # the encoding's own task ...
    assert sizes[-2] < tables.nbytes / 100  # ... and no other task carries it

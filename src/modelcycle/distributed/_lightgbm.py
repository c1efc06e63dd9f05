"""LightGBM on a Dask cluster: the preprocessing fitted on the whole data, ``lightgbm.dask``.

The preprocessing is the one the search's best LightGBM trial read (numbers imputed with
the median, a ``__missing`` indicator where values were missing, categories as LightGBM's
native codes, and a many-valued categorical column as the trial encoded it: native codes
of its common or of all its levels, their frequencies, their target means, or dropped).
It is the one fitted on the in-memory sample, for its layout (columns, boolean spellings,
text vocabularies), with its statistics replaced by those of the whole train part,
computed partition by partition:

- each categorical column's categories and counts (so the category list, which
  categories are rare enough to fold into "other", and their frequencies come from
  every row);
- each target-encoded column's rows and target sums per category and per fold of the
  rows (a seeded hash of each row, :data:`TARGET_FOLDS_PURPOSE`): the encoding learnt
  from every row, and for each fold the one learnt from the other folds, which encodes
  the training rows of that fold as :meth:`Preprocessor.fit_transform` does on one
  machine (a row's own target never reaches its encoding);
- each number-like column's missing values (its indicator) and median (merged from
  each partition's 1,001 quantiles: exact up to that spacing), a boolean's majority.

A datetime's fill values and a text column's vocabulary stay the sample's.

The booster is trained by ``lightgbm.dask`` over the train part's partitions, each
encoded on its worker (as float32: ``lightgbm.dask`` holds every encoded train row in
the workers' memory, plus a copy of each worker's share while it builds its dataset),
and wrapped as a :class:`~modelcycle.learners.LightGBMLearner`,
so the pipeline saves (LightGBM model text), loads and serves as a local one does.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from modelcycle.core import Task
from modelcycle.distributed._dataset import (
    merged_quantiles,
    row_buckets,
    test_rows,
    train_rows,
    validation_mask,
)
from modelcycle.distributed._pace import NETWORK_TIMEOUT_MINUTES
from modelcycle.features import (
    DATETIME_PARTS,
    CategoricalEncoder,
    NumericBlock,
    Preprocessor,
    TargetSums,
    as_table,
    categorical_from_counts,
    category_counts,
    prepare_target,
)
from modelcycle.learners import LightGBMLearner
from modelcycle.packaging import Member, ModelPipeline

if TYPE_CHECKING:
    from distributed import Client
    from modelcycle.distributed._pace import Pace

#: Quantile levels each partition reports for a median.
_LEVELS = np.linspace(0.0, 1.0, 1001)
#: The key of the pipeline's one preprocessor (as a local LightGBM model names it).
PREPROCESSOR_KEY = "native"
#: The purpose of the row hash that puts each train row in a target-encoding fold.
TARGET_FOLDS_PURPOSE = "target-fold"


def target_folds(rows: pd.DataFrame, folds: int, seed: int) -> np.ndarray:
    """Each row's target-encoding fold in ``[0, folds)``, from a seeded hash of the row."""
    return row_buckets(rows, seed, TARGET_FOLDS_PURPOSE) % folds


@dataclass
class PreprocessingPart:
    """One partition's preprocessing statistics (train rows only)."""

    categories: dict[str, Counter[str]]
    missing: np.ndarray  # per numeric-block column: rows without a finite value
    finite: np.ndarray  # ... rows with one
    sums: np.ndarray  # ... sum of the finite values
    sketches: list[np.ndarray]  # ... evenly spaced quantiles of the finite values
    targets: dict[str, TargetSums] = field(default_factory=dict)  # target-encoded columns


@dataclass
class TrainEncoding:
    """How the cluster fit encodes train rows: the whole-data preprocessor, except that a
    target-encoded column takes, for a row of fold ``f``, the means learnt from the other
    folds' rows (``out_of_fold`` maps its first output column to the
    ``(folds, codes, outputs)`` tables; see :meth:`TargetSums.out_of_fold`).

    Rows the fit never read (holdout, serving) are encoded by ``preprocessor`` alone.
    """

    preprocessor: Preprocessor
    folds: int = 0
    seed: int = 0
    out_of_fold: dict[int, np.ndarray] = field(default_factory=dict)

    def transform(self, rows: pd.DataFrame, folds: np.ndarray | None = None) -> np.ndarray:
        """``rows`` (train rows, with the target column) as the fit reads them.

        ``folds`` are the rows' folds when they were taken before ``rows`` was put
        together from several partitions (a concatenation can change the dtypes the
        hash reads).
        """
        matrix = self.preprocessor.transform(rows)
        if not self.out_of_fold or not len(rows):
            return matrix
        folds = target_folds(rows, self.folds, self.seed) if folds is None else folds
        table = as_table(rows)
        for start, encoder in self.preprocessor.target_encoders():
            tables = self.out_of_fold[start]
            matrix[:, start : start + tables.shape[2]] = tables[folds, encoder.codes(table)]
        return matrix


class PreprocessingStatistics:
    """Collects per-partition statistics for a preprocessor fitted on a sample.

    Call it on each partition's train rows (it is what :func:`summarise` calls as
    ``extra``), then :meth:`fit` the whole-data encoding from the results.
    ``sample_target`` is the sample's target column (its classes are the target
    encoding's; needed when a column is target-encoded).
    """

    def __init__(
        self,
        sampled: Preprocessor,
        target: str,
        *,
        sample_target: pd.Series | None = None,
        seed: int = 0,
    ) -> None:
        self.sampled = sampled
        self.target = target
        self.seed = seed
        self.block = next((e for e in sampled.encoders_ if isinstance(e, NumericBlock)), None)
        self.categorical = [
            e.column for e in sampled.encoders_ if isinstance(e, CategoricalEncoder)
        ]
        self.targeted = [encoder.column for _, encoder in sampled.target_encoders()]
        self.folds = int(sampled.target_folds)
        self.classes: list[str] | None = None
        if self.targeted:
            if sample_target is None:
                raise ValueError("a target-encoded column needs the sample's target")
            labels = prepare_target(sampled.schema, sample_target).labels
            self.classes = None if labels is None else sorted(set(labels))

    def __call__(self, part: pd.DataFrame) -> PreprocessingPart:
        width = len(self.block.to_dict()["fill"]) if self.block is not None else 0
        matrix = self.block.matrix(as_table(part)) if self.block is not None else np.empty((0, 0))
        finite = np.isfinite(matrix)
        sketches = []
        for index in range(width):
            values = matrix[finite[:, index], index]
            sketches.append(values if values.size <= _LEVELS.size else np.quantile(values, _LEVELS))
        return PreprocessingPart(
            categories={name: category_counts(part, name) for name in self.categorical},
            missing=(~finite).sum(axis=0) if width else np.zeros(0),
            finite=finite.sum(axis=0) if width else np.zeros(0),
            sums=np.where(finite, matrix, 0.0).sum(axis=0) if width else np.zeros(0),
            sketches=sketches,
            targets=self._target_sums(part) if self.targeted else {},
        )

    def _target_sums(self, part: pd.DataFrame) -> dict[str, TargetSums]:
        labelled = part[part[self.target].notna()]  # rows without a target teach nothing
        matrix = prepare_target(self.sampled.schema, labelled[self.target], self.classes).matrix
        folds = target_folds(labelled, self.folds, self.seed)
        return {
            column: TargetSums.of(labelled, column, matrix, folds, self.folds)
            for column in self.targeted
        }

    def fit(self, parts: list[PreprocessingPart], train_rows: int) -> TrainEncoding:
        """The sample's preprocessor with the whole train part's statistics."""
        saved = self.sampled.to_dict()
        min_count = self.sampled.rare_min_count(train_rows)
        smoothing = float(self.sampled.target_smoothing)
        encoders, sums = [], {}
        for item, encoder in zip(saved["encoders"], self.sampled.encoders_, strict=True):
            if isinstance(encoder, NumericBlock):
                item = self._numeric(item, parts)
            elif isinstance(encoder, CategoricalEncoder) and encoder.encoding == "target":
                sums[encoder.column] = TargetSums.merge([p.targets[encoder.column] for p in parts])
                item = (
                    sums[encoder.column]
                    .encoder(encoder.column, encoder.suffixes, smoothing)
                    .to_dict()
                )
            elif isinstance(encoder, CategoricalEncoder) and encoder.encoding in (
                "native",
                "count",
            ):
                counts: Counter[str] = Counter()
                for part in parts:
                    counts.update(part.categories[encoder.column])
                item = categorical_from_counts(
                    encoder.column,
                    counts,
                    encoding=encoder.encoding,
                    min_count=min_count,
                    rows=train_rows,
                ).to_dict()
            encoders.append(item)
        preprocessor = Preprocessor.from_dict({**saved, "encoders": encoders})
        out_of_fold = {
            start: sums[encoder.column].out_of_fold(encoder, smoothing)
            for start, encoder in preprocessor.target_encoders()
        }
        return TrainEncoding(preprocessor, self.folds, self.seed, out_of_fold)

    def _numeric(self, item: dict[str, Any], parts: list[PreprocessingPart]) -> dict[str, Any]:
        missing = np.sum([p.missing for p in parts], axis=0)
        finite = np.sum([p.finite for p in parts], axis=0)
        sums = np.sum([p.sums for p in parts], axis=0)
        sources = item["sources"]
        scalars = [s for s in sources if s["kind"] != "datetime"]
        fill = list(item["fill"])
        for index, source in enumerate(scalars):
            if finite[index] == 0:
                continue
            if source["kind"] == "boolean":
                fill[index] = 1.0 if sums[index] / finite[index] > 0.5 else 0.0
            else:
                sketches = [p.sketches[index] for p in parts if p.sketches[index].size]
                weights = [float(p.finite[index]) for p in parts if p.sketches[index].size]
                fill[index] = float(merged_quantiles(sketches, weights, [0.5])[0])
        allowed = list(range(len(scalars)))
        allowed += range(len(scalars), len(fill), len(DATETIME_PARTS))  # one per datetime
        indicators = [i for i in allowed if missing[i] > 0]
        return {**item, "fill": fill, "indicators": indicators}


def lightgbm_params(trial_params: dict[str, Any] | None, task: Task) -> dict[str, Any]:
    """LightGBM parameters for the cluster fit: the search's choice, or the defaults."""
    params = dict(LightGBMLearner.default_params(task))
    params.update(trial_params or {})
    for key in ("num_iterations", "early_stopping_round", "verbosity"):
        params.pop(key, None)
    return params


def fit_booster(
    client: Client,
    frame: Any,
    encoding: TrainEncoding,
    *,
    target: str,
    task: Task,
    classes: list[Any] | None,
    params: dict[str, Any],
    rounds: int,
    test_size: float,
    seed: int,
    balanced: bool = False,
    validation: float = 0.0,
    pace: Pace | None = None,
) -> Any:
    """Train ``lightgbm.dask`` on the train part of ``frame``; the fitted booster.

    ``validation`` is the share of the train rows kept out of the fit (a seeded hash
    slice, :class:`WithValidation` collects it) to choose the rounds afterwards. With a
    ``pace``, the rounds stop by its deadline (the booster then has fewer than
    ``rounds``).
    """
    import lightgbm as lgb

    preprocessor = encoding.preprocessor
    width = len(preprocessor.feature_names_)
    # The fit holds the encoded rows, a concatenated copy and LightGBM's binned rows at
    # once: first the garbage earlier passes left on the workers is released, then the
    # encoded rows are computed and what computing them left behind is released too.
    client.run(release_memory)
    encode = encoded_partitions(
        frame, encoding, target=target, classes=classes, test_size=test_size, seed=seed,
        validation=validation,
    )  # fmt: skip
    parts = client.compute(encode)  # type: ignore[no-untyped-call]
    # Each partition's matrix and labels as keys of their own (the same arrays: no copy),
    # so the tuples are released and the workers count each array once.
    xs = client.map(_block, parts, [0] * len(parts), pure=False)
    ys = client.map(_block, parts, [1] * len(parts), pure=False)
    lengths = client.gather(client.map(len, ys, pure=False))  # type: ignore[no-untyped-call]
    del parts
    client.run(release_memory)
    held = [(x, y, int(n)) for x, y, n in zip(xs, ys, lengths, strict=True) if n]
    # NumPy blocks, not frames: lightgbm.dask concatenates a worker's blocks into one
    # C-ordered float32 matrix, which LightGBM reads without another copy (a frame is
    # copied to NumPy, and again to row order).
    X = _stacked([(block, (n, width)) for block, _, n in held])
    y = _stacked([(block, (n,)) for _, block, n in held])
    options: dict[str, Any] = {
        "client": client,
        "n_estimators": rounds,
        "random_state": seed,
        "deterministic": True,
        "verbosity": -1,
        # Minutes a worker waits on another in LightGBM's network before failing (its
        # default is two hours): a worker lost mid-fit leaves the others waiting that long.
        "time_out": NETWORK_TIMEOUT_MINUTES,
        **params,
    }
    if not options.get("force_row_wise"):
        # Column-wise histograms: the row-wise layout keeps a second, row-major copy of
        # the binned rows (LightGBM's documentation: twice the Dataset's memory), which on
        # a worker at its memory limit is what gets it restarted.
        options["force_col_wise"] = True
    if task is Task.REGRESSION:
        model = lgb.DaskLGBMRegressor(**options)
    else:
        model = lgb.DaskLGBMClassifier(class_weight="balanced" if balanced else None, **options)
    categorical = list(preprocessor.categorical_features_)

    def fit() -> Any:
        with client.as_current():  # lightgbm.dask waits on the default client
            if pace is None:
                model.fit(X, y, categorical_feature=categorical)
            else:
                model.fit(X, y, categorical_feature=categorical, callbacks=[pace.callback])
        return model.booster_

    with spilling_paused(client):
        if pace is None:
            return fit()
        holders = client.who_has([*xs, *ys])  # type: ignore[no-untyped-call]
        return pace.run(fit, workers={w for where in holders.values() for w in where})


@contextlib.contextmanager
def spilling_paused(client: Client) -> Iterator[None]:
    """The workers' spilling to disk off for the block, then as it was on each.

    During the fit, spilling frees nothing (LightGBM's task holds the blocks it reads),
    and the sockets ``lightgbm.dask`` keeps in futures to reserve ports cannot be
    pickled: each attempt logged a traceback, ten times a second per worker. Pausing
    (at 80%) and the nanny's restart (at 95%) still apply.
    """
    before = client.run(_spill_threshold, False)
    try:
        yield
    finally:
        for address, threshold in before.items():
            with contextlib.suppress(Exception):  # a worker lost meanwhile
                client.run(_spill_threshold, threshold, workers=[address])


def _spill_threshold(threshold: float | bool, dask_worker: Any) -> float | bool:
    """On a worker (``client.run`` passes it): its spill threshold set to ``threshold``;
    the one it had."""
    manager = dask_worker.memory_manager
    before: float | bool = manager.memory_spill_fraction
    manager.memory_spill_fraction = threshold
    return before


def encoded_partitions(
    frame: Any,
    encoding: TrainEncoding,
    *,
    target: str,
    classes: list[Any] | None,
    test_size: float,
    seed: int,
    validation: float = 0.0,
) -> list[Any]:
    """A task per partition encoding its train rows (:func:`_encoded`), as ``Delayed``.

    Each reads, splits and encodes its partition, so the raw rows are freed as soon as
    it ends. The encoding is one task of its own, which each worker fetches once: inside
    every partition's task, its target tables (five folds of every level of an
    identifier-like column) would travel once per partition.
    """
    from dask.delayed import delayed

    shared = delayed(encoding, pure=False)
    encode = delayed(_encoded, pure=False)
    return [
        encode(part, shared, target, classes, test_size, seed, validation)
        for part in frame.to_delayed()
    ]


def _stacked(blocks: list[tuple[Any, tuple[int, ...]]]) -> Any:
    """One Dask array of float32 blocks held on the workers (futures) of known shapes."""
    import dask.array as da
    from dask.delayed import delayed

    arrays = [
        da.from_delayed(delayed(block), shape=shape, dtype=np.float32)  # type: ignore[no-untyped-call]
        for block, shape in blocks
    ]
    return da.concatenate(arrays)  # type: ignore[no-untyped-call]


def _block(part: tuple[np.ndarray, np.ndarray], index: int) -> np.ndarray:
    return part[index]


def release_memory() -> None:
    """Give back what a worker process keeps after its tasks have ended.

    Pandas frames read from Parquet leave reference cycles that Python's collector frees
    only on its own schedule, and Arrow's allocator keeps the pages of freed buffers:
    after reading a few hundred MB, a worker can hold twice that until both are released
    (measured on a 1 GiB worker: 730 MB, then 500 MB after collecting, then 200 MB after
    Arrow's release). Run on every worker with ``client.run``.
    """
    import contextlib
    import ctypes
    import gc

    import pyarrow as pa

    gc.collect()
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):  # glibc's heap; absent elsewhere
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class WithValidation:
    """:func:`summarise`'s ``extra``: a partition's preprocessing statistics and its
    validation rows (the hash slice :func:`fit_booster` keeps out of the fit) with their
    target-encoding folds, collected in the same pass over the data.
    """

    def __init__(self, statistics: PreprocessingStatistics, share: float, seed: int) -> None:
        self.statistics, self.share, self.seed = statistics, share, seed

    def __call__(self, part: pd.DataFrame) -> tuple[PreprocessingPart, pd.DataFrame, np.ndarray]:
        held = part[validation_mask(part, self.share, self.seed)]
        statistics = self.statistics
        folds = target_folds(held, statistics.folds, statistics.seed)
        return statistics(part), held, folds


def encode_rows(
    rows: pd.DataFrame,
    encoding: TrainEncoding,
    target: str,
    classes: list[Any] | None,
    folds: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Train rows as the fit reads them: float32 features and labels (class codes or
    values); ``folds`` as :meth:`TrainEncoding.transform` takes them.
    """
    matrix = encoding.transform(rows, folds).astype(np.float32)
    if classes is None:
        return matrix, rows[target].to_numpy(dtype=np.float32)
    codes = pd.Categorical(rows[target], categories=classes).codes
    return matrix, codes.astype(np.float32)


def best_rounds(booster: Any, X: np.ndarray, y: np.ndarray, task: Task, step: int = 10) -> int:
    """The number of the booster's first rounds with the lowest loss on ``(X, y)``.

    The loss is the objective's (log loss of the probabilities, or squared error),
    checked every ``step`` rounds and at the last, from raw scores added up ``step``
    rounds at a time (each tree is evaluated once).

    Examples
    --------
    >>> import lightgbm as lgb
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(2000, 3)); y = (X[:, 0] + rng.normal(size=2000) > 0) * 1.0
    >>> booster = lgb.train({"objective": "binary", "verbosity": -1, "num_leaves": 63},
    ...                     lgb.Dataset(X[:1000], y[:1000]), num_boost_round=300)
    >>> best_rounds(booster, X[1000:], y[1000:], Task.BINARY) < 300
    True
    """
    total = int(booster.num_trees() // max(booster.num_model_per_iteration(), 1))
    if total == 0 or len(y) == 0:
        return total
    raw: np.ndarray | None = None
    best, best_loss = total, np.inf
    for start in range(0, total, step):
        count = min(step, total - start)
        part = booster.predict(X, raw_score=True, start_iteration=start, num_iteration=count)
        raw = part if raw is None else raw + part
        loss = _loss(raw, y, task)
        if loss < best_loss - 1e-12:
            best, best_loss = start + count, loss
    return best


def _loss(raw: np.ndarray, y: np.ndarray, task: Task) -> float:
    if task is Task.REGRESSION:
        return float(np.mean((raw - y) ** 2))
    if task is Task.BINARY:
        # log(1 + exp(-z)) for the true class, computed stably
        z = np.where(y > 0.5, raw, -raw)
        return float(np.mean(np.logaddexp(0.0, -z)))
    shifted = raw - raw.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1))
    picked = shifted[np.arange(len(y)), y.astype(np.int64)]
    return float(np.mean(log_norm - picked))


def _encoded(
    part: pd.DataFrame,
    encoding: TrainEncoding,
    target: str,
    classes: list[Any] | None,
    test_size: float,
    seed: int,
    validation: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """One partition's train rows encoded: a C-ordered float32 matrix and the labels.

    With a ``validation`` share, the validation slice is left out.

    Float32 halves the memory ``lightgbm.dask`` holds; LightGBM keeps labels as float32
    anyway. A float64 value and its float32 rounding fall on the same side of every
    split the trees learn (thresholds lie between distinct float32 training values; a
    value exactly halfway between two float32 numbers aside), so the model predicts from
    the float64 features of serving as it trained.
    """
    train = train_rows(part, test_size, seed)
    if validation > 0:
        train = train[~validation_mask(train, validation, seed)]
    matrix, labels = encode_rows(train, encoding, target, classes)
    return np.ascontiguousarray(matrix, dtype=np.float32), labels.astype(np.float32)


def pipeline_of(
    booster: Any,
    preprocessor: Preprocessor,
    *,
    task: Task,
    classes: list[Any] | None,
    params: dict[str, Any],
    seed: int,
) -> ModelPipeline:
    """The trained model as the pipeline a local training makes: one LightGBM member."""
    learner = LightGBMLearner.from_booster(
        booster,
        task=task,
        n_classes=0 if classes is None else len(classes),
        params=params,
        categorical_features=list(preprocessor.categorical_features_),
        random_state=seed,
    )
    return ModelPipeline(
        task=task,
        preprocessors={PREPROCESSOR_KEY: preprocessor},
        members=[Member(learner, PREPROCESSOR_KEY, 1.0)],
        classes=classes,
    )


def predict_holdout(
    client: Client,
    frame: Any,
    pipeline: ModelPipeline,
    *,
    target: str,
    test_size: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The holdout's targets (class codes or values) and the pipeline's output for them.

    Each partition's holdout rows are scored on its worker; only these two arrays come
    back (class probabilities for a classifier, values for a regression).
    """
    from dask.delayed import delayed

    model = delayed(pipeline, pure=True)
    parts = [
        delayed(_predict_part, pure=True)(p, model, target, test_size, seed)
        for p in frame.to_delayed()
    ]
    done: list[tuple[np.ndarray, np.ndarray]] = client.gather(client.compute(parts))  # type: ignore[no-untyped-call]
    return np.concatenate([y for y, _ in done]), np.concatenate([out for _, out in done])


def _predict_part(
    part: pd.DataFrame, pipeline: ModelPipeline, target: str, test_size: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    held = test_rows(part, test_size, seed)
    inputs = held.drop(columns=[target])
    if pipeline.task is Task.REGRESSION:
        return held[target].to_numpy(dtype=float), pipeline.predict_values(inputs)
    codes = pd.Categorical(held[target], categories=pipeline.classes_).codes.astype(np.int64)
    return codes, pipeline.predict_proba(inputs)

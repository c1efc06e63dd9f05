"""A Parquet dataset larger than one worker's memory, read as a Dask DataFrame and summarised.

Nothing here collects the dataset to one machine. The rows are split into train and
holdout by a seeded hash of each whole row (:func:`holdout_mask`), so the split is the
same on every read, on every worker, whatever the partitioning; a row and its exact
duplicate always fall on the same side. What training needs from the whole train part
is computed partition by partition on the workers and merged here:

- the training profile (counts, missing and invalid values, category frequencies, date
  ranges; moments and quantiles merged from each partition's, and histogram counts from
  a second pass with the merged edges) — the reference monitoring compares with;
- a fingerprint of each side (a SHA-256 over the partitions' own fingerprints, in order);
- the target's classes and their counts;
- the preprocessing statistics (see :mod:`modelcycle.distributed._lightgbm`).

Only a sample of the train part, chosen by another seeded hash and at most
``sample_rows`` rows, is collected: schema inference, data checks and the parameter
search read it.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from modelcycle.core import Schema, ValidationError
from modelcycle.data import (
    CategorySummary,
    ColumnProfile,
    DatasetFingerprint,
    DatetimeSummary,
    Histogram,
    NumericSummary,
    Profile,
    TextSummary,
    fingerprint,
)

if TYPE_CHECKING:
    from distributed import Client

#: Hash buckets of the split and the sample: shares are resolved to one in a million.
_BUCKETS = 1_000_000
#: Most categories a partition reports per column (every one, in practice).
_ALL = 10**9
_TOP_K = 20
_BINS = 20


def read_dataset(source: str, target: str) -> Any:
    """``source`` (a Parquet folder, glob or ``s3://`` prefix) as a Dask DataFrame.

    Raises
    ------
    ValidationError
        ``source`` holds no Parquet data, or no column ``target``.
    """
    import dask
    import dask.dataframe as dd

    from modelcycle.distributed._scoring import partitions

    if any(magic in source for magic in "*?["):  # a glob: Dask reads the files it matches
        from fsspec.core import url_to_fs

        fs, pattern = url_to_fs(source)
        if not [f for f in fs.glob(pattern) if f.endswith(".parquet")]:
            raise ValidationError(
                f"{source!r} matches no .parquet files; give a folder, a glob or an s3:// "
                "prefix of Parquet partitions"
            )
    else:
        partitions(source)  # a clear error when there is nothing to read
    with dask.config.set({"dataframe.convert-string": False}):  # as pandas reads it
        frame = dd.read_parquet(source)
    if target not in frame.columns:
        raise ValidationError(
            f"target column {target!r} is not in {source!r}; its columns are "
            f"{list(frame.columns)[:20]}",
            details={"column": target},
        )
    return frame


def count_rows(client: Client, frame: Any, target: str, source: str) -> int:
    """The dataset's rows, counted on the workers with the rows that have no target.

    Raises
    ------
    ValidationError
        Some rows have no target (or an infinite one): a local training refuses them
        too, and here they would reach the fit as labels (class -1, or NaN).
    """
    labels = frame[target]
    unlabelled = labels.isna()
    if pd.api.types.is_float_dtype(labels.dtype):
        unlabelled = unlabelled | labels.isin([np.inf, -np.inf])
    rows, missing = client.gather(  # type: ignore[no-untyped-call]
        client.compute([frame.shape[0], unlabelled.sum()])  # type: ignore[no-untyped-call]
    )
    if missing:
        raise ValidationError(
            f"target {target!r} is missing or infinite in {int(missing):,} of {int(rows):,} "
            f"rows of {source!r}; expected labelled rows only (leave the unlabelled rows out "
            "of the dataset first)",
            details={"column": target, "rows": int(missing)},
        )
    return int(rows)


def _hash_key(seed: int, purpose: str) -> str:
    return hashlib.blake2b(f"{purpose}:{seed}".encode(), digest_size=8).hexdigest()


def row_buckets(part: pd.DataFrame, seed: int, purpose: str = "split") -> np.ndarray:
    """Each row's bucket in ``[0, 1_000_000)``, from a seeded hash of the whole row."""
    hashed = pd.util.hash_pandas_object(part, index=False, hash_key=_hash_key(seed, purpose))
    return np.asarray(hashed.to_numpy(np.uint64) % np.uint64(_BUCKETS), dtype=np.int64)


def holdout_mask(part: pd.DataFrame, test_size: float, seed: int) -> np.ndarray:
    """Which rows of ``part`` are holdout rows (about ``test_size`` of them, by hash)."""
    return row_buckets(part, seed) < round(test_size * _BUCKETS)


def validation_mask(train: pd.DataFrame, share: float, seed: int) -> np.ndarray:
    """Which of a partition's train rows form the validation slice (about ``share``)."""
    if share <= 0:
        return np.zeros(len(train), dtype=bool)
    return row_buckets(train, seed, "validation") < max(1, round(share * _BUCKETS))


def train_rows(part: pd.DataFrame, test_size: float, seed: int) -> pd.DataFrame:
    """The train rows of one partition."""
    return part[~holdout_mask(part, test_size, seed)]


def test_rows(part: pd.DataFrame, test_size: float, seed: int) -> pd.DataFrame:
    """The holdout rows of one partition."""
    return part[holdout_mask(part, test_size, seed)]


def _sampled(part: pd.DataFrame, test_size: float, seed: int, share: float) -> pd.DataFrame:
    train = train_rows(part, test_size, seed)
    return train[row_buckets(train, seed, "sample") < round(share * _BUCKETS)]


@dataclass
class _Part:
    """What one partition reports."""

    train_rows: int
    test_rows: int
    train_hash: str
    test_hash: str
    columns: tuple[str, ...]
    dtypes: tuple[str, ...]
    profile: Profile | None
    classes: Counter[Any] = field(default_factory=Counter)
    extra: Any = None


@dataclass(frozen=True)
class Summary:
    """The whole dataset, summarised: sizes, fingerprints, profile, classes, statistics."""

    train_rows: int
    test_rows: int
    train: DatasetFingerprint
    test: DatasetFingerprint
    profile: Profile
    classes: dict[Any, int]
    extra: list[Any]


def summarise(
    client: Client,
    frame: Any,
    schema: Schema,
    *,
    test_size: float,
    seed: int,
    classify: bool,
    extra: Callable[[pd.DataFrame], Any] | None = None,
) -> Summary:
    """One pass over every partition: sizes, fingerprints, profile parts, classes, ``extra``.

    ``extra(train_rows)`` runs on each partition's train rows; its results come back in
    partition order (the caller merges them).
    """
    parts = client.compute(  # type: ignore[no-untyped-call]
        [_delayed(_summarise_part)(p, schema, test_size, seed, classify, extra)
         for p in frame.to_delayed()]
    )  # fmt: skip
    done: list[_Part] = client.gather(parts)  # type: ignore[no-untyped-call]
    train_n = sum(p.train_rows for p in done)
    if train_n == 0 or sum(p.test_rows for p in done) == 0:
        raise ValidationError(
            f"the dataset has {train_n} train and {sum(p.test_rows for p in done)} holdout "
            f"rows with test_size={test_size}; expected rows on both sides (more data)"
        )
    profile = merge_profiles([p.profile for p in done if p.profile is not None], schema)
    edges = _edges_of(profile)
    if edges:
        counts = client.gather(  # type: ignore[no-untyped-call]
            client.compute(  # type: ignore[no-untyped-call]
                [_delayed(_bin_part)(p, edges, test_size, seed) for p in frame.to_delayed()]
            )
        )
        profile = _with_counts(profile, edges, counts)
    classes: Counter[Any] = Counter()
    for part in done:
        classes.update(part.classes)
    return Summary(
        train_rows=train_n,
        test_rows=sum(p.test_rows for p in done),
        train=_combined([p.train_hash for p in done], train_n, done[0]),
        test=_combined([p.test_hash for p in done], sum(p.test_rows for p in done), done[0]),
        profile=profile,
        classes=dict(classes),
        extra=[p.extra for p in done],
    )


def sample(
    client: Client, frame: Any, *, rows: int, train_rows: int, test_size: float, seed: int
) -> pd.DataFrame:
    """At most about ``rows`` train rows, chosen by a seeded hash, as one pandas frame."""
    share = min(1.0, rows / max(train_rows, 1))
    picked = [_delayed(_sampled)(p, test_size, seed, share) for p in frame.to_delayed()]
    parts: list[pd.DataFrame] = client.gather(client.compute(picked))  # type: ignore[no-untyped-call]
    return pd.concat(parts, ignore_index=True)


def _delayed(function: Callable[..., Any]) -> Any:
    from dask.delayed import delayed

    return delayed(function, pure=True)


def _summarise_part(
    part: pd.DataFrame,
    schema: Schema,
    test_size: float,
    seed: int,
    classify: bool,
    extra: Callable[[pd.DataFrame], Any] | None,
) -> _Part:
    test = holdout_mask(part, test_size, seed)
    train, held = part[~test], part[test]
    target = schema.target
    classes: Counter[Any] = Counter()
    if classify and target is not None:
        counts = train[target].value_counts(dropna=True)
        classes.update({_plain(k): int(v) for k, v in counts.items()})
    return _Part(
        train_rows=len(train),
        test_rows=len(held),
        train_hash=fingerprint(train).hash,
        test_hash=fingerprint(held).hash,
        columns=tuple(str(c) for c in part.columns),
        dtypes=tuple(str(t) for t in part.dtypes),
        profile=Profile.from_frame(train, schema, top_k=_ALL) if len(train) else None,
        classes=classes,
        extra=extra(train) if extra is not None and len(train) else None,
    )


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _combined(hashes: Sequence[str], rows: int, first: _Part) -> DatasetFingerprint:
    digest = hashlib.sha256(repr((first.columns, first.dtypes)).encode())
    for value in hashes:
        digest.update(value.encode())
    return DatasetFingerprint(digest.hexdigest(), rows, first.columns, first.dtypes)


# -- merging profiles --------------------------------------------------------------------


def merged_quantiles(
    values: Sequence[np.ndarray], weights: Sequence[float], levels: Any
) -> np.ndarray:
    """Quantiles of a union from each part's evenly spaced quantiles and its row count.

    Part ``i`` stands for ``weights[i]`` rows spread evenly over ``values[i]``; the result
    is exact when every part sends all its values, and otherwise within one part's
    quantile spacing.
    """
    points = np.concatenate([np.asarray(v, dtype=np.float64) for v in values])
    mass = np.concatenate(
        [np.full(len(v), w / len(v)) for v, w in zip(values, weights, strict=True) if len(v)]
    )
    order = np.argsort(points, kind="stable")
    points, mass = points[order], mass[order]
    cumulative = (np.cumsum(mass) - mass / 2) / mass.sum()
    return np.asarray(np.interp(np.asarray(levels, dtype=np.float64), cumulative, points))


def merge_profiles(parts: Sequence[Profile], schema: Schema) -> Profile:
    """One profile of the union of the parts' rows (histogram counts not yet filled)."""
    if not parts:
        raise ValidationError("no partition of the dataset has train rows to profile")
    columns = tuple(
        _merge_column([p.columns[i] for p in parts]) for i in range(len(parts[0].columns))
    )
    return Profile(rows=sum(p.rows for p in parts), columns=columns, target=schema.target)


def _merge_column(parts: list[ColumnProfile]) -> ColumnProfile:
    first = parts[0]
    summaries = [p.summary for p in parts if p.summary is not None]
    summary: Any = None
    if summaries and isinstance(summaries[0], NumericSummary):
        summary = _merge_numeric(summaries)  # type: ignore[arg-type]
    elif summaries and isinstance(summaries[0], TextSummary):
        summary = TextSummary(_merge_numeric([s.length for s in summaries]))  # type: ignore[union-attr]
    elif summaries and isinstance(summaries[0], CategorySummary):
        summary = _merge_categories(summaries)  # type: ignore[arg-type]
    elif summaries and isinstance(summaries[0], DatetimeSummary):
        stamps = [pd.Timestamp(s.min) for s in summaries] + [pd.Timestamp(s.max) for s in summaries]  # type: ignore[union-attr]
        summary = DatetimeSummary(min(stamps).isoformat(), max(stamps).isoformat())
    return ColumnProfile(
        first.name,
        first.kind,
        sum(p.count for p in parts),
        sum(p.missing for p in parts),
        sum(p.invalid for p in parts),
        summary,
    )


def _finite_count(summary: NumericSummary) -> int:
    return max(sum(summary.histogram.counts), 1)


def _merge_numeric(parts: list[NumericSummary]) -> NumericSummary:
    counts = np.array([_finite_count(p) for p in parts], dtype=np.float64)
    means = np.array([p.mean for p in parts])
    total = counts.sum()
    mean = float((counts * means).sum() / total)
    spread = ((counts - 1) * np.array([p.std for p in parts]) ** 2).sum()
    spread += (counts * (means - mean) ** 2).sum()
    from modelcycle.data import QUANTILE_LEVELS

    quantiles = merged_quantiles(
        [np.array(p.quantiles) for p in parts], list(counts), QUANTILE_LEVELS
    )
    grid = merged_quantiles(
        [np.array(p.quantiles) for p in parts], list(counts), np.linspace(0, 1, _BINS + 1)
    )
    edges = np.unique(
        np.concatenate(([min(p.min for p in parts)], grid[1:-1], [max(p.max for p in parts)]))
    )
    if edges.size == 1:
        edges = np.array([edges[0], edges[0]])
    return NumericSummary(
        mean=mean,
        std=float(np.sqrt(spread / (total - 1))) if total > 1 else 0.0,
        min=float(min(p.min for p in parts)),
        max=float(max(p.max for p in parts)),
        quantiles=tuple(float(q) for q in quantiles),
        histogram=Histogram(tuple(float(e) for e in edges), (0,) * (edges.size - 1)),
        infinite=sum(p.infinite for p in parts),
    )


def _merge_categories(parts: list[CategorySummary]) -> CategorySummary:
    counts: Counter[str] = Counter()
    for part in parts:
        counts.update(dict(part.top))
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    top = tuple(ranked[:_TOP_K])
    return CategorySummary(
        distinct=len(ranked), top=top, other=sum(count for _, count in ranked[_TOP_K:])
    )


# -- histogram counts: a second pass with the merged edges -------------------------------


def _edges_of(profile: Profile) -> dict[str, tuple[str, tuple[float, ...]]]:
    """Per column with a histogram: what is binned (``number`` or ``length``) and the edges."""
    edges = {}
    for column in profile.columns:
        if isinstance(column.summary, NumericSummary):
            edges[column.name] = ("number", column.summary.histogram.edges)
        elif isinstance(column.summary, TextSummary):
            edges[column.name] = ("length", column.summary.length.histogram.edges)
    return edges


def _bin_part(
    part: pd.DataFrame,
    edges: dict[str, tuple[str, tuple[float, ...]]],
    test_size: float,
    seed: int,
) -> dict[str, tuple[int, ...]]:
    train = train_rows(part, test_size, seed)
    counts = {}
    for name, (what, bounds) in edges.items():
        series = train[name].dropna()
        if what == "length":
            values = series.astype(str).str.len().to_numpy(dtype=np.float64)
        elif series.dtype == bool:
            values = series.to_numpy(dtype=np.float64)
        else:
            values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64)
        counts[name] = Histogram(bounds, ()).bin(values)
    return counts


def _with_counts(
    profile: Profile,
    edges: dict[str, tuple[str, tuple[float, ...]]],
    parts: list[dict[str, tuple[int, ...]]],
) -> Profile:
    columns = []
    for column in profile.columns:
        if column.name not in edges:
            columns.append(column)
            continue
        total = np.sum([np.array(p[column.name], dtype=np.int64) for p in parts], axis=0)
        histogram = Histogram(edges[column.name][1], tuple(int(c) for c in total))
        summary = column.summary
        if isinstance(summary, TextSummary):
            summary = TextSummary(_replace_histogram(summary.length, histogram))
        elif isinstance(summary, NumericSummary):
            summary = _replace_histogram(summary, histogram)
        columns.append(
            ColumnProfile(
                column.name, column.kind, column.count, column.missing, column.invalid, summary
            )
        )
    return Profile(rows=profile.rows, columns=tuple(columns), target=profile.target)


def _replace_histogram(summary: NumericSummary, histogram: Histogram) -> NumericSummary:
    from dataclasses import replace

    return replace(summary, histogram=histogram)

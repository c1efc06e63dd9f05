"""The sample threshold merged from per-part bucket counts is the k-th smallest hash."""

from __future__ import annotations

import numpy as np
import pytest

from modelcycle.monitoring._logparts import PartScan, bucket_counts, merge_buckets, merge_threshold


def _threshold(parts: list[np.ndarray], size: int, bits: int) -> int | None:
    """What the cluster reader finds: counts, the boundary bucket, then its hashes."""
    scans = [PartScan(part.size, hashes=part).brief(bits) for part in parts]
    bucket = merge_buckets([scan.buckets for scan in scans], size)
    if bucket is None:
        return None
    low, high, need = bucket
    between = [PartScan(part.size, hashes=part).between(low, high) for part in parts]
    return merge_threshold(between, need)


@pytest.mark.parametrize("bits", [1, 4, 12, 16])
def test_the_merged_threshold_is_the_kth_smallest_hash_of_all_parts(bits: int) -> None:
    rng = np.random.default_rng(bits)
    for _ in range(50):
        parts = [
            rng.integers(0, 2**64, int(rng.integers(0, 400)), dtype=np.uint64)
            for _ in range(int(rng.integers(1, 7)))
        ]
        if rng.random() < 0.3:  # equal hashes, across parts and at the threshold
            parts.append(parts[0][: len(parts[0]) // 2].copy())
        everything = np.sort(np.concatenate(parts))
        for size in {1, 2, max(1, everything.size // 3), max(1, everything.size - 1)}:
            expected = int(everything[size - 1]) if everything.size > size else None
            assert _threshold(parts, size, bits) == expected


def test_the_extreme_hashes_fall_in_the_first_and_last_buckets() -> None:
    edges = np.array([0, 1, 2**63 - 1, 2**63, 2**64 - 2, 2**64 - 1], np.uint64)
    assert bucket_counts(edges, 1).tolist() == [3, 3]
    counts = bucket_counts(edges, 12)
    assert counts.size == 4096 and counts[0] == 2 and counts[2047] == 1 and counts[-1] == 2
    assert _threshold([edges], 5, 12) == 2**64 - 2
    assert _threshold([edges[:3], edges[3:]], 1, 1) == 0


def test_a_window_no_larger_than_the_sample_has_no_threshold() -> None:
    parts = [np.arange(5, dtype=np.uint64), np.arange(5, dtype=np.uint64)]
    assert _threshold(parts, 10, 12) is None
    assert _threshold([], 1, 12) is None
    assert merge_buckets([], 1) is None

"""A forest's trees in flat arrays, walked for all trees and rows at once.

scikit-learn predicts a forest tree by tree, paying some 30 µs of Python per tree:
one row through 300 trees takes about 10 ms. :class:`PackedForest` concatenates the
trees' nodes into a few flat NumPy arrays and moves every (tree, row) pair one level
down per step, so a small batch costs a few dozen vectorised steps instead.

The result is bit for bit the forest's own: rows are compared as float32 (as
scikit-learn casts them) against thresholds rounded down to float32, which gives the
same decision as scikit-learn's float64 comparison for every float32 value; NaN
follows each node's ``missing_go_to_left``; the trees' leaf values are added in tree
order starting from zero and divided by the number of trees, as
``ForestClassifier.predict_proba`` and ``ForestRegressor.predict`` do.
:func:`pack_forest` checks this on probe rows and gives up (returns ``None``) when
an installed scikit-learn disagrees.

The arrays are derived from the fitted trees, so they are rebuilt after loading and
never saved.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import is_classifier

# Steps taken between two looks for (tree, row) pairs that reached a leaf; finished
# pairs are then dropped, so shallow leaves stop costing work.
_STEPS_PER_CHECK = 8
# (tree, row) pairs walked at once: bounds the memory of a large batch to ~25 MB.
_PAIRS_PER_CHUNK = 2**19
_PROBE_ROWS = 32


class PackedForest:
    """The nodes of a forest's trees in flat arrays, predicted for all trees at once.

    Nodes are renumbered per tree so that an internal node's two children are
    neighbours (left, then right); a step moves to ``first_child + goes_right``. A
    leaf is its own first child with an infinite threshold, so it stays put. The
    arrays are never changed after construction: one packed forest can serve many
    threads at once.

    Parameters
    ----------
    trees : sequence of ``sklearn.tree._tree.Tree``
        The ``tree_`` of every estimator of a fitted forest, in the forest's order,
        each with a single output.
    routes_missing : bool
        Whether NaN may be predicted, following each node's ``missing_go_to_left``
        (the forest allows NaN). Otherwise rows with NaN are not accepted.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import RandomForestRegressor
    >>> X = np.arange(40.0).reshape(-1, 2)
    >>> forest = RandomForestRegressor(n_estimators=5, random_state=0).fit(X, X[:, 0])
    >>> packed = PackedForest([tree.tree_ for tree in forest.estimators_])
    >>> rows = X[:3].astype(np.float32)
    >>> bool(np.array_equal(packed.predict(rows)[:, 0], forest.predict(rows)))
    True
    """

    def __init__(self, trees: Sequence[Any], *, routes_missing: bool = False) -> None:
        if not trees:
            raise ValueError("a packed forest needs at least one tree")
        parts = [_pack_tree(tree) for tree in trees]
        counts = np.array([len(part[0]) for part in parts], dtype=np.intp)
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.intp)
        # int32 node numbers take half the memory and walk as fast as int64 ones.
        index = np.int32 if counts.sum() < np.iinfo(np.int32).max else np.intp
        self.roots: NDArray[np.signedinteger[Any]] = offsets.astype(index)
        self.first_child: NDArray[np.signedinteger[Any]] = np.concatenate(
            [(part[0] + offset).astype(index) for part, offset in zip(parts, offsets, strict=True)]
        )
        self.feature: NDArray[np.int32] = np.concatenate([part[1] for part in parts])
        self.threshold: NDArray[np.float32] = np.concatenate([part[2] for part in parts])
        self.missing_right: NDArray[np.bool_] = np.concatenate([part[3] for part in parts])
        self.value: NDArray[np.float64] = np.concatenate([part[4] for part in parts])
        self.is_leaf: NDArray[np.bool_] = self.first_child == np.arange(counts.sum())
        self.routes_missing = routes_missing

    @property
    def n_trees(self) -> int:
        """Number of trees."""
        return len(self.roots)

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays (about 14 bytes a node plus 8 per leaf value)."""
        arrays = (self.first_child, self.feature, self.threshold, self.missing_right)
        return sum(array.nbytes for array in (*arrays, self.value, self.is_leaf, self.roots))

    @property
    def n_values(self) -> int:
        """Values per leaf: the number of classes, or 1 for regression."""
        return int(self.value.shape[1])

    def accepts(self, rows: NDArray[np.float32]) -> bool:
        """Whether :meth:`predict` gives the forest's answer for these float32 rows.

        Not for infinities (scikit-learn refuses them, also float64 values beyond the
        float32 range), nor for NaN unless the forest routes missing values.
        """
        if self.routes_missing:
            return not bool(np.isinf(rows).any())
        return bool(np.isfinite(rows).all())

    def predict(self, rows: NDArray[np.float32]) -> NDArray[np.float64]:
        """Return the mean of the trees' leaf values, shape ``(n, n_values)``.

        For a classifier these are the class probabilities (``predict_proba``), for a
        regressor the predictions in column 0. ``rows`` is a float32 matrix that
        :meth:`accepts`; large batches are walked in chunks to bound memory.
        """
        rows = np.ascontiguousarray(rows, dtype=np.float32)
        size = max(1, _PAIRS_PER_CHUNK // self.n_trees)
        if rows.shape[0] <= size:
            return self._predict_chunk(rows)
        chunks = [self._predict_chunk(rows[i : i + size]) for i in range(0, rows.shape[0], size)]
        return np.concatenate(chunks)

    def _predict_chunk(self, rows: NDArray[np.float32]) -> NDArray[np.float64]:
        leaves = self._leaves(rows).reshape(self.n_trees, rows.shape[0])
        # Sequential in tree order, as scikit-learn's `out += tree_prediction`; a
        # reduce could sum pairwise. Adding 0.0 turns an all -0.0 sum into its 0.0.
        sums: NDArray[np.float64] = np.add.accumulate(self.value.take(leaves, axis=0), axis=0)
        total: NDArray[np.float64] = sums[-1] + 0.0
        total /= self.n_trees
        return total

    def _leaves(self, rows: NDArray[np.float32]) -> NDArray[np.signedinteger[Any]]:
        """The leaf reached by every (tree, row) pair, tree-major, shape ``(trees * n,)``."""
        n, n_features = rows.shape
        flat = rows.ravel()
        missing = self.routes_missing and bool(np.isnan(flat).any())
        node = np.repeat(self.roots, n)
        start = np.tile(np.arange(n, dtype=np.intp) * n_features, self.n_trees)
        for _ in range(_STEPS_PER_CHECK):
            node = self._step(node, flat.take(start + self.feature.take(node)), missing)
        done = self.is_leaf.take(node)
        if done.all():
            return node
        leaves, where = node, np.arange(node.size)
        while not done.all():
            walking = ~done
            node, start, where = node[walking], start[walking], where[walking]
            for _ in range(_STEPS_PER_CHECK):
                node = self._step(node, flat.take(start + self.feature.take(node)), missing)
            done = self.is_leaf.take(node)
            leaves[where[done]] = node[done]
        return leaves

    def _step(
        self, node: NDArray[np.signedinteger[Any]], x: NDArray[np.float32], missing: bool
    ) -> NDArray[np.signedinteger[Any]]:
        """Move every pair one level down: to the first child, plus one to go right."""
        goes_right = x > self.threshold.take(node)
        if missing:
            goes_right |= np.isnan(x) & self.missing_right.take(node)
        return self.first_child.take(node) + goes_right


def pack_forest(estimator: Any, *, allow_nan: bool) -> PackedForest | None:
    """Pack a fitted single-output forest, or ``None`` if it cannot be packed exactly.

    The packed forest is checked against the forest's own ``predict_proba`` (or
    ``predict``) on probe rows built from the split thresholds, at the boundaries
    and around them, with NaN when ``allow_nan``; a forest with several outputs, or
    an installed scikit-learn whose trees cannot be read or whose predictions differ
    in any bit, gives ``None``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import ExtraTreesClassifier
    >>> X = np.arange(40.0).reshape(-1, 2)
    >>> forest = ExtraTreesClassifier(n_estimators=5, random_state=0).fit(X, X[:, 0] > 9)
    >>> pack_forest(forest, allow_nan=True).n_trees
    5
    """
    if getattr(estimator, "n_outputs_", 1) != 1:
        return None
    trees = [tree.tree_ for tree in estimator.estimators_]
    if allow_nan and not all(hasattr(tree, "missing_go_to_left") for tree in trees):
        return None
    try:
        packed = PackedForest(trees, routes_missing=allow_nan)
        probe = _probe_rows(packed, int(estimator.n_features_in_))
        if is_classifier(estimator):
            expected = np.asarray(estimator.predict_proba(probe), dtype=np.float64)
        else:
            expected = np.asarray(estimator.predict(probe), dtype=np.float64).reshape(-1, 1)
        same = np.array_equal(packed.predict(probe), expected)
    except (AttributeError, IndexError, TypeError, ValueError):
        # Trees laid out otherwise by a future scikit-learn: predict with the forest
        # itself rather than refuse to fit or load a model over a speed-up.
        return None
    return packed if same else None


def _pack_tree(tree: Any) -> tuple[NDArray[Any], ...]:
    """One tree's first child, feature, threshold, NaN side and values, siblings adjacent."""
    left = np.asarray(tree.children_left, dtype=np.intp)
    right = np.asarray(tree.children_right, dtype=np.intp)
    leaf = left < 0
    internal = np.flatnonzero(~leaf)
    pair = np.arange(internal.size, dtype=np.intp)
    # New numbers: the root stays 0; the children of the k-th internal node are 2k+1, 2k+2.
    number = np.zeros(left.size, dtype=np.intp)
    number[left[internal]] = 2 * pair + 1
    number[right[internal]] = 2 * pair + 2
    first_child = np.empty(left.size, dtype=np.intp)
    first_child[number[internal]] = 2 * pair + 1
    first_child[number[leaf]] = number[leaf]
    feature = np.zeros(left.size, dtype=np.int32)
    feature[number] = np.where(leaf, 0, tree.feature)
    threshold = np.empty(left.size, dtype=np.float32)
    threshold[number] = np.where(leaf, np.float32(np.inf), _round_down(tree.threshold))
    missing_right = np.zeros(left.size, dtype=np.bool_)
    if hasattr(tree, "missing_go_to_left"):
        missing_right[number] = ~leaf & (np.asarray(tree.missing_go_to_left) == 0)
    value = np.empty((left.size, tree.value.shape[2]), dtype=np.float64)
    value[number] = tree.value[:, 0, :]
    return first_child, feature, threshold, missing_right, value


def _round_down(threshold: NDArray[np.float64]) -> NDArray[np.float32]:
    """The largest float32 at most each threshold: ``x <= t`` iff ``x <= it`` for float32 x."""
    with np.errstate(over="ignore"):
        rounded = np.asarray(threshold, dtype=np.float64).astype(np.float32)
    above = rounded.astype(np.float64) > threshold
    rounded[above] = np.nextafter(rounded[above], np.float32(-np.inf))
    return rounded


def _probe_rows(packed: PackedForest, n_features: int) -> NDArray[np.float32]:
    """Rows whose values sit on, just below and just above the split thresholds."""
    rng = np.random.default_rng(0)
    internal = ~packed.is_leaf
    rows = np.zeros((_PROBE_ROWS, n_features), dtype=np.float32)
    for feature in range(n_features):
        cuts = packed.threshold[internal & (packed.feature == feature)]
        cuts = cuts[np.isfinite(cuts)]  # +inf splits NaN from every number
        if cuts.size:
            picked = rng.choice(cuts, size=_PROBE_ROWS)
            side = rng.choice(np.array([-np.inf, 0.0, np.inf], dtype=np.float32), _PROBE_ROWS)
            moved = np.nextafter(picked, np.where(side == 0, picked, side))
            rows[:, feature] = np.where(np.isfinite(moved), moved, picked)
    if packed.routes_missing:
        rows[-1] = np.nan
        rows[-_PROBE_ROWS // 2 : -1][rng.random((_PROBE_ROWS // 2 - 1, n_features)) < 0.3] = np.nan
    return rows

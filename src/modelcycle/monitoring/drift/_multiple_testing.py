"""Multiple-testing corrections, so twenty columns do not raise twenty false alarms."""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from modelcycle.core import ValidationError

Method = Literal["bh", "bonferroni"]
METHODS: tuple[str, ...] = ("bh", "bonferroni")


def adjust_pvalues(pvalues: ArrayLike, *, method: Method = "bh") -> NDArray[np.float64]:
    """Adjust p-values for testing them together; reject where the adjusted value < alpha.

    ``"bh"`` is Benjamini–Hochberg: it controls the false discovery rate (the expected
    share of false alarms among the columns flagged) at alpha, and when nothing has
    drifted, the chance of any alarm at all is at most alpha. ``"bonferroni"``
    multiplies by the number of tests: it controls the chance of any false alarm under
    every mix of drifted and stable columns, at the price of less power.

    Examples
    --------
    >>> adjust_pvalues([0.01, 0.04, 0.03, 0.5]).round(3).tolist()
    [0.04, 0.053, 0.053, 0.5]
    >>> adjust_pvalues([0.01, 0.04], method="bonferroni").tolist()
    [0.02, 0.08]
    """
    values = np.asarray(pvalues, dtype=np.float64)
    if method not in METHODS:
        raise ValidationError(f"method is {method!r}; expected one of {list(METHODS)}")
    if values.size == 0:
        return values.copy()
    if method == "bonferroni":
        return np.minimum(values * values.size, 1.0)
    order = np.argsort(values, kind="stable")
    ranked = values[order] * values.size / np.arange(1, values.size + 1)
    stepped = np.minimum.accumulate(ranked[::-1])[::-1]
    adjusted = np.empty_like(values)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted

"""Text columns: TF-IDF fitted by scikit-learn, applied by our NumPy code."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from modelcycle.core import Column, ColumnKind, Schema, ValidationError
from modelcycle.features import Preprocessor

NOTE = Schema((Column("note", ColumnKind.TEXT),))


def docstrings() -> list[str]:
    """Real English text: the docstrings of ``str``, ``dict`` and ``list`` methods."""
    owners = (str, dict, list)
    return [
        getattr(o, n).__doc__ or "" for o in owners for n in sorted(dir(o)) if not n.startswith("_")
    ]


def test_matches_scikit_learn_tfidf() -> None:
    texts = docstrings()
    train, test = texts[::2], [*texts[1::2], "Return UNKNOWN words only", ""]
    pre = Preprocessor(schema=NOTE, text_max_features=40).fit(pd.DataFrame({"note": train}))
    reference = TfidfVectorizer(max_features=40).fit(train)
    words = sorted(reference.vocabulary_, key=reference.vocabulary_.__getitem__)
    assert pre.feature_names_ == [f"note__tfidf_{w}" for w in words]
    expected = reference.transform(test).toarray()
    np.testing.assert_allclose(pre.transform({"note": test}), expected, rtol=1e-12, atol=1e-15)


def test_missing_text_and_missing_column_give_zero_rows() -> None:
    pre = Preprocessor(schema=NOTE).fit(pd.DataFrame({"note": ["good day", "bad day", None]}))
    assert pre.feature_names_ == ["note__tfidf_bad", "note__tfidf_day", "note__tfidf_good"]
    out = pre.transform([{"note": None}, {}, {"note": "GOOD good"}])
    np.testing.assert_array_equal(out, [[0, 0, 0], [0, 0, 0], [0, 0, 1]])


def test_text_without_any_word_gives_no_columns() -> None:
    pre = Preprocessor(schema=NOTE).fit(pd.DataFrame({"note": ["", None, "a"]}))
    assert pre.feature_names_ == []
    assert pre.transform([{"note": "hello"}]).shape == (1, 0)


def test_non_string_text_is_a_validation_error() -> None:
    pre = Preprocessor(schema=NOTE).fit(pd.DataFrame({"note": ["good day"]}))
    with pytest.raises(
        ValidationError, match=r"column 'note', row 0: got 42 \(int\); expected a string"
    ):
        pre.transform([{"note": 42}])

"""Text columns: TF-IDF, fitted by scikit-learn and applied by our own NumPy code.

At fit time scikit-learn's ``TfidfVectorizer`` chooses the vocabulary (the
``max_features`` most frequent words) and their inverse document frequencies.
Only those two are kept, as plain lists, and :meth:`TextEncoder.transform_into`
reproduces the vectoriser's output from them: lower-cased words matched by the
token pattern, counts times idf, each row scaled to unit Euclidean length.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.feature_extraction.text import TfidfVectorizer

from modelcycle.core import ValidationError
from modelcycle.features._base import Encoder, float_list, require
from modelcycle.features._table import Table
from modelcycle.features._values import text_column

#: scikit-learn's default: words of two or more letters, digits or underscores.
TOKEN_PATTERN = r"(?u)\b\w\w+\b"


class TextEncoder(Encoder):
    """Fitted TF-IDF of one text column: ``vocabulary[i]`` has weight ``idf[i]``."""

    kind = "text"

    def __init__(
        self,
        *,
        column: str,
        vocabulary: Sequence[str],
        idf: Sequence[float],
        token_pattern: str = TOKEN_PATTERN,
    ) -> None:
        if len(vocabulary) != len(idf):
            raise ValidationError(
                f"text column {column!r} has {len(vocabulary)} words but {len(idf)} idf "
                "weights; expected one weight per word"
            )
        self.column = column
        self.vocabulary = [str(word) for word in vocabulary]
        self.token_pattern = token_pattern
        self._idf = np.array(idf, dtype=np.float64)
        self._index = {word: i for i, word in enumerate(self.vocabulary)}
        self._tokens = re.compile(token_pattern)

    @property
    def feature_names(self) -> list[str]:
        return [f"{self.column}__tfidf_{word}" for word in self.vocabulary]

    def transform_into(self, table: Table, out: NDArray[np.float64]) -> None:
        documents = text_column(self.column, table.column(self.column), table.n_rows)
        out[...] = 0.0
        if not self.vocabulary:
            return
        rows: list[int] = []
        words: list[int] = []
        index, findall = self._index, self._tokens.findall
        for row, document in enumerate(documents):
            for token in findall(document.lower()):
                position = index.get(token)
                if position is not None:
                    rows.append(row)
                    words.append(position)
        np.add.at(out, (np.array(rows, dtype=np.intp), np.array(words, dtype=np.intp)), 1.0)
        out *= self._idf
        norms = np.sqrt(np.einsum("ij,ij->i", out, out))
        np.divide(out, norms[:, None], out=out, where=norms[:, None] > 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "column": self.column,
            "vocabulary": list(self.vocabulary),
            "idf": float_list(self._idf),
            "token_pattern": self.token_pattern,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TextEncoder:
        owner = f"text column {data.get('column')!r}"
        return cls(
            column=require(data, "column", owner),
            vocabulary=require(data, "vocabulary", owner),
            idf=require(data, "idf", owner),
            token_pattern=data.get("token_pattern", TOKEN_PATTERN),
        )


def fit_text(table: Table, column: str, *, max_features: int) -> TextEncoder:
    """Fit the vocabulary and idf weights of one text column with ``TfidfVectorizer``.

    A column without any word (all empty or missing) gets an empty vocabulary and
    so no output columns.
    """
    documents = text_column(column, table.column(column), table.n_rows)
    vectorizer = TfidfVectorizer(
        lowercase=True, token_pattern=TOKEN_PATTERN, max_features=max_features, dtype=np.float64
    )
    try:
        vectorizer.fit(documents)
    except ValueError:  # "empty vocabulary": no document has a word
        return TextEncoder(column=column, vocabulary=[], idf=[])
    vocabulary = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__)
    return TextEncoder(column=column, vocabulary=vocabulary, idf=float_list(vectorizer.idf_))

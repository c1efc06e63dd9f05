"""A user's own models (served with the ``trusted`` flavor) that answer in awkward arrays.

Each answers from the ``age`` input, so a test knows what every row should get; what
varies is the dtype, memory order, stride or byte order of the array (issue 11).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def _float16_view(age: np.ndarray) -> np.ndarray:
    return np.stack([age, age / 2], axis=1).astype(np.float16)[:, 1]  # a strided view


def _big_endian(age: np.ndarray) -> np.ndarray:
    return (age / 2).astype(">f8")


def _fortran_2d(age: np.ndarray) -> np.ndarray:
    return np.asfortranarray(np.stack([age / 2, -age], axis=1))  # two outputs per row


def _reversed_int8(age: np.ndarray) -> np.ndarray:
    return (age % 100).astype(np.int8)[::-1].copy()[::-1]  # a negative-stride view


def _booleans(age: np.ndarray) -> np.ndarray:
    return age > 50


def _bytes(age: np.ndarray) -> np.ndarray:
    return np.where(age > 50, b"old", b"young\xff")  # one label is not UTF-8


def _objects(age: np.ndarray) -> np.ndarray:
    kinds = [np.float32, np.int16, bytes, str, np.bool_]
    values: list[Any] = []
    for value in age:
        kind = kinds[int(value) % len(kinds)]  # by value: the same whatever the batch
        if kind is bytes:
            values.append(str(int(value)).encode())
        elif kind is str:
            values.append(np.str_(f"age {int(value)} \ud800"))  # a lone surrogate
        else:
            values.append(kind(value))
    return np.array([*values, None], dtype=object)[:-1]  # None: keep it one-dimensional


def _dates(age: np.ndarray) -> np.ndarray:
    days = age.astype("timedelta64[D]")
    dates = np.datetime64("2000-01-01") + days
    return np.where(age > 75, np.datetime64("NaT"), dates)


#: Layout name -> what the model answers for the ``age`` column.
LAYOUTS = {
    "float16_view": _float16_view,
    "big_endian": _big_endian,
    "fortran_2d": _fortran_2d,
    "reversed_int8": _reversed_int8,
    "booleans": _booleans,
    "bytes": _bytes,
    "objects": _objects,
    "dates": _dates,
}


class OddRegressor:
    """Answers ``LAYOUTS[layout](age)``: a value per row in an awkward array."""

    def __init__(self, layout: str = "float16_view") -> None:
        self.layout = layout

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return LAYOUTS[self.layout](frame["age"].to_numpy(dtype=np.float64))


class OddClassifier:
    """Classes ``'no'``/``'yes'`` with Fortran-ordered float32 probabilities."""

    def __init__(self) -> None:
        self.classes_ = np.array(["no", "yes"])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.classes_[self.predict_proba(frame).argmax(axis=1)]

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        yes = np.clip(frame["age"].to_numpy(dtype=np.float64) / 100, 0, 1)
        return np.asfortranarray(np.stack([1 - yes, yes], axis=1).astype(np.float32))

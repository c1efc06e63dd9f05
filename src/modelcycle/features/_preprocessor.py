"""The fitted preprocessing every learner shares: :class:`Preprocessor`."""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.base import BaseEstimator

from modelcycle.core import ColumnKind, Schema, ValidationError
from modelcycle.features._base import Encoder
from modelcycle.features._categorical import ENCODINGS, CategoricalEncoder, fit_categorical
from modelcycle.features._numeric import BLOCK_KINDS, NumericBlock, fit_numeric_block
from modelcycle.features._table import FrameTable, TableLike, as_table
from modelcycle.features._target import Target, TargetCodes, fold_indices, prepare_target
from modelcycle.features._text import TextEncoder, fit_text

#: Name and version of the saved form; ``from_dict`` refuses anything else.
FORMAT = "modelcycle.features.Preprocessor"
FORMAT_VERSION = 1
#: Column kinds that carry no signal and are left out.
SKIPPED_KINDS = frozenset({ColumnKind.IDENTIFIER, ColumnKind.CONSTANT})
#: What ``column_encodings`` may say of a categorical column: an encoding, or leave it out.
COLUMN_ENCODINGS = (*ENCODINGS, "drop")
_ENCODER_TYPES: dict[str, type[Encoder]] = {
    cls.kind: cls for cls in (NumericBlock, CategoricalEncoder, TextEncoder)
}


class Preprocessor(BaseEstimator):  # type: ignore[misc]
    """Turn a table into the float64 matrix every learner reads.

    Uses ``schema.features`` (not dropped, not the target) by kind; identifier and
    constant columns are left out. Output columns come in this order:

    1. numeric, integer and boolean (0/1) columns in schema order, then each
       datetime's parts ``year, month, day, weekday (0 = Monday), hour,
       epoch_seconds`` (UTC; naive values are read as UTC). A missing or infinite
       value is replaced by the training median (the most frequent value for
       booleans, the parts of the median instant for datetimes); with ``scale`` the
       columns are standardised (booleans excepted);
    2. a ``<name>__missing`` 0/1 indicator for each of those columns that had
       missing values in the training data;
    3. categorical columns, per ``encoding``:

       - ``"native"``: the category's integer code (categories sorted by their
         string form) for LightGBM's native handling (``categorical_features_``);
         a missing value is NaN; a rare category, and an unseen one when rare
         categories were folded, is the extra code ``k`` ("other"); an unseen
         category with no "other" code is NaN;
       - ``"onehot"``: a ``<name>=<category>`` column per kept category and a
         ``<name>=<other>`` column for rare and unseen categories (only when rare
         categories were folded; otherwise an unseen category is all zeros);
         a missing value is all zeros;
       - ``"target"``: the smoothed mean of the target per category (one column per
         class for a multiclass target); unseen categories get the overall mean.
         :meth:`fit_transform` returns out-of-fold means so the training matrix
         does not leak the target;
       - ``"count"``: the category's share of the training rows (``<name>__count``);
         an unseen category is 0;
    4. text columns as TF-IDF (``<name>__tfidf_<word>``).

    At ``transform`` time a missing column is a column of missing values and an
    extra column is ignored; a cell of the wrong type raises ``ValidationError``.

    Parameters
    ----------
    schema : Schema
        Column kinds; its ``target`` (if any) is the target for ``"target"`` encoding.
    encoding : {"native", "onehot", "target", "count"}
        How categorical columns are encoded (see above).
    column_encodings : dict or None
        Per categorical column, an encoding overriding ``encoding``, or ``"drop"`` to leave
        the column out (the AutoML search chooses these by validation).
    scale : bool
        Standardise numeric and datetime columns (for linear models).
    rare_min_frequency : int or float
        Categories seen fewer times than this (a count, or a share of the rows when
        below 1) are folded into "other" (``native`` and ``onehot``).
    max_onehot : int
        Most one-hot columns per categorical column; less frequent categories are "other".
    text_max_features : int
        Vocabulary size of each text column.
    target_smoothing : float
        Weight of the overall mean in target encoding (in rows).
    target_folds : int
        Folds for the out-of-fold encoding of :meth:`fit_transform`.
    random_state : int, numpy Generator or None
        Shuffling of those folds (the only randomness).

    Attributes
    ----------
    feature_names_in_ : list of str
        Input columns used, in schema order.
    feature_names_ : list of str
        Output column names.
    categorical_features_ : list of int
        Output positions of natively encoded categorical columns.
    encoders_ : list of Encoder
        The fitted encoders, in output order.

    Examples
    --------
    >>> import pandas as pd
    >>> from modelcycle.core import Column, ColumnKind, Schema
    >>> schema = Schema((Column("age", ColumnKind.NUMERIC), Column("city", ColumnKind.CATEGORICAL)))
    >>> frame = pd.DataFrame({"age": [30.0, None, 50.0], "city": ["Oslo", "Rome", "Oslo"]})
    >>> pre = Preprocessor(schema=schema, rare_min_frequency=1).fit(frame)
    >>> pre.feature_names_
    ['age', 'age__missing', 'city']
    >>> pre.transform([{"age": 41, "city": "Paris"}]).tolist()
    [[41.0, 0.0, nan]]
    """

    def __init__(
        self,
        *,
        schema: Schema,
        encoding: Literal["native", "onehot", "target", "count"] = "native",
        column_encodings: dict[str, str] | None = None,
        scale: bool = False,
        rare_min_frequency: float | int = 0.01,
        max_onehot: int = 32,
        text_max_features: int = 100,
        target_smoothing: float = 10.0,
        target_folds: int = 5,
        random_state: Any = None,
    ) -> None:
        self.schema = schema
        self.encoding = encoding
        self.column_encodings = column_encodings
        self.scale = scale
        self.rare_min_frequency = rare_min_frequency
        self.max_onehot = max_onehot
        self.text_max_features = text_max_features
        self.target_smoothing = target_smoothing
        self.target_folds = target_folds
        self.random_state = random_state

    # -- fitting -----------------------------------------------------------------

    def fit(self, frame: pd.DataFrame, y: Any = None) -> Self:
        """Learn imputation values, scaling, categories, target means and vocabularies.

        Parameters
        ----------
        frame : pandas.DataFrame
            Training rows holding every feature column of the schema.
        y : array-like, optional
            The target (needed by ``encoding="target"``); defaults to the schema's
            target column of ``frame``.

        Returns
        -------
        Preprocessor
            ``self``, fitted.
        """
        self._fit(frame, y)
        return self

    def fit_transform(self, frame: pd.DataFrame, y: Any = None) -> NDArray[np.float64]:
        """Fit, then return the training matrix; target encodings there are out-of-fold.

        Each training row's target encoding comes from the other ``target_folds - 1``
        folds only, so a learner cannot read its own target back.
        """
        target = self._fit(frame, y)
        matrix = self.transform(frame)
        if target is None:
            return matrix
        folds = fold_indices(target, self.target_folds, self.random_state)
        table = FrameTable(frame)
        for start, encoder in self.target_encoders():
            codes = encoder.codes(table)
            matrix[:, start : start + len(encoder.suffixes)] = encoder.out_of_fold(
                codes, target, folds, float(self.target_smoothing)
            )
        return matrix

    def _fit(self, frame: pd.DataFrame, y: Any) -> Target | None:
        self._check_params()
        if not isinstance(frame, pd.DataFrame):
            raise ValidationError(f"fit expects a pandas DataFrame; got a {type(frame).__name__}")
        columns = [
            c
            for c in self.schema.features
            if c.kind not in SKIPPED_KINDS and self._encoding_of(c.name) != "drop"
        ]
        absent = [c.name for c in columns if c.name not in frame.columns]
        if absent:
            raise ValidationError(
                f"the training frame lacks the feature columns {absent}; expected every "
                f"feature of the schema (frame has {list(frame.columns)[:20]})",
                details={"missing": absent},
            )
        table = FrameTable(frame)
        targeted = any(
            self._encoding_of(c.name) == "target"
            for c in columns
            if c.kind is ColumnKind.CATEGORICAL
        )
        target = self._target(frame, y) if targeted else None
        encoders: list[Encoder] = []
        block_columns = [c for c in columns if c.kind in BLOCK_KINDS]
        if block_columns:
            encoders.append(fit_numeric_block(table, block_columns, scale=bool(self.scale)))
        min_count = self._min_count(len(frame))
        for column in columns:
            if column.kind is ColumnKind.CATEGORICAL:
                encoders.append(
                    fit_categorical(
                        table,
                        column.name,
                        encoding=self._encoding_of(column.name),
                        min_count=min_count,
                        max_onehot=int(self.max_onehot),
                        target=target,
                        smoothing=float(self.target_smoothing),
                    )
                )
        for column in columns:
            if column.kind is ColumnKind.TEXT:
                encoders.append(fit_text(table, column.name, max_features=self.text_max_features))
        self._set_state([c.name for c in columns], encoders)
        return target

    def _encoding_of(self, column: str) -> str:
        return (self.column_encodings or {}).get(column, self.encoding)

    def target_codes(self, frame: pd.DataFrame, y: Any = None) -> list[TargetCodes]:
        """Every target-encoded column's output position, each row's code and the target.

        With these a caller can recompute the encoding from any subset of the training
        rows (``frame`` and ``y`` as given to :meth:`fit`) — the AutoML search does, on
        each validation fold, so that the rows it scores never saw their own targets.
        """
        table = FrameTable(frame)
        encoders = self.target_encoders()
        if not encoders:
            return []
        target = self._target(frame, y).matrix
        return [
            TargetCodes(start, encoder.codes(table), encoder.n_codes, target)
            for start, encoder in encoders
        ]

    def target_encoders(self) -> list[tuple[int, CategoricalEncoder]]:
        """Every target-encoded column's encoder and the first of its output columns.

        Their training rows' encodings are out of fold (:meth:`fit_transform`): a caller
        that fits elsewhere (on a cluster) replaces these output columns the same way.
        """
        return [
            (start, encoder)
            for encoder, start, _ in self._fitted_layout()
            if isinstance(encoder, CategoricalEncoder) and encoder.encoding == "target"
        ]

    def _target(self, frame: pd.DataFrame, y: Any) -> Target:
        if y is None and self.schema.target is not None and self.schema.target in frame:
            y = frame[self.schema.target]
        if y is None:
            raise ValidationError(
                "encoding='target' needs the target: pass y to fit, or name the target in "
                "the schema and include its column in the frame"
            )
        if len(y) != len(frame):
            raise ValidationError(
                f"y has {len(y)} values but the frame has {len(frame)} rows; expected one "
                "target value per row"
            )
        return prepare_target(self.schema, y)

    def rare_min_count(self, n_rows: int) -> int:
        """Fewest rows a category needs in a training table of ``n_rows`` not to be folded."""
        return self._min_count(n_rows)

    def _min_count(self, n_rows: int) -> int:
        threshold = self.rare_min_frequency
        if isinstance(threshold, numbers.Integral):
            return int(threshold)
        return max(1, math.ceil(float(threshold) * n_rows))

    def _check_params(self) -> None:
        problems = []
        if not isinstance(self.schema, Schema):
            problems.append(f"schema must be a modelcycle.core.Schema, got {self.schema!r}")
        if self.encoding not in ENCODINGS:
            problems.append(f"encoding must be one of {ENCODINGS}, got {self.encoding!r}")
        problems += self._column_encoding_problems()
        rare = self.rare_min_frequency
        if (
            isinstance(rare, bool)
            or not isinstance(rare, numbers.Real)
            or not ((isinstance(rare, numbers.Integral) and rare >= 1) or 0 < float(rare) < 1)
        ):
            problems.append(
                "rare_min_frequency must be a count (int >= 1) or a share of the rows "
                f"(float between 0 and 1), got {rare!r}"
            )
        for name, low in (("max_onehot", 1), ("text_max_features", 1), ("target_folds", 2)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
                problems.append(f"{name} must be an int >= {low}, got {value!r}")
        smoothing = self.target_smoothing
        if not isinstance(smoothing, numbers.Real) or not 0 <= float(smoothing) < math.inf:
            problems.append(f"target_smoothing must be a finite number >= 0, got {smoothing!r}")
        if problems:
            raise ValidationError("invalid Preprocessor parameters: " + "; ".join(problems))

    def _column_encoding_problems(self) -> list[str]:
        given = self.column_encodings
        if given is None:
            return []
        if not isinstance(given, dict):
            return [f"column_encodings must be a dict of column to encoding, got {given!r}"]
        categorical = {c.name for c in self.schema.features if c.kind is ColumnKind.CATEGORICAL}
        problems = []
        for column, encoding in given.items():
            if column not in categorical:
                problems.append(
                    f"column_encodings names {column!r}, which is not a categorical feature "
                    f"of the schema (categorical: {sorted(categorical)[:20]})"
                )
            elif encoding not in COLUMN_ENCODINGS:
                problems.append(
                    f"column_encodings[{column!r}] must be one of {COLUMN_ENCODINGS}, "
                    f"got {encoding!r}"
                )
        return problems

    def _set_state(self, inputs: list[str], encoders: Sequence[Encoder]) -> None:
        self.feature_names_in_ = inputs
        self.encoders_ = list(encoders)
        layout, names, categorical, start = [], [], [], 0
        for encoder in self.encoders_:
            stop = start + encoder.width
            layout.append((encoder, start, stop))
            names += encoder.feature_names
            if isinstance(encoder, CategoricalEncoder) and encoder.encoding == "native":
                categorical.append(start)
            start = stop
        self._layout_ = layout
        self.feature_names_ = names
        self.categorical_features_ = categorical
        self.n_features_out_ = start

    # -- using -------------------------------------------------------------------

    def transform(self, data: TableLike) -> NDArray[np.float64]:
        """Return the ``(n_rows, len(feature_names_))`` float64 matrix of ``data``.

        Parameters
        ----------
        data : pandas.DataFrame, list of dict, or dict of lists/arrays
            Rows to encode. A list of row dicts or a dict of columns is read without
            pandas (the serving path); all three forms give identical output.

        Raises
        ------
        ValidationError
            When a cell has the wrong type (naming the row, column, value and
            expected type), or the preprocessor is not fitted.
        """
        layout = self._fitted_layout()
        table = as_table(data)
        out = np.empty((table.n_rows, self.n_features_out_), dtype=np.float64)
        for encoder, start, stop in layout:
            encoder.transform_into(table, out[:, start:stop])
        return out

    def get_feature_names_out(self, input_features: Any = None) -> NDArray[np.object_]:
        """Return :attr:`feature_names_` as an array (scikit-learn's naming API)."""
        self._fitted_layout()
        return np.array(self.feature_names_, dtype=object)

    def _fitted_layout(self) -> list[tuple[Encoder, int, int]]:
        try:
            return self._layout_
        except AttributeError:
            raise ValidationError(
                "this Preprocessor is not fitted yet; call fit(frame) first or load a saved one"
            ) from None

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "_layout_")

    # -- persistence -------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Return the fitted preprocessor as a JSON-ready dict (no pickle).

        Floats are stored as Python floats, which JSON round-trips exactly, so a
        reloaded preprocessor gives bit-identical output.
        """
        self._fitted_layout()
        state = self.random_state
        saved: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "params": {
                "encoding": self.encoding,
                "scale": bool(self.scale),
                "rare_min_frequency": self.rare_min_frequency,
                "max_onehot": int(self.max_onehot),
                "text_max_features": int(self.text_max_features),
                "target_smoothing": float(self.target_smoothing),
                "target_folds": int(self.target_folds),
                "random_state": state if isinstance(state, int) else None,
            },
            "schema": self.schema.to_dict(),
            "feature_names_in": list(self.feature_names_in_),
            "encoders": [encoder.to_dict() for encoder in self.encoders_],
        }
        if self.column_encodings:  # only when set: earlier saved forms stay byte-identical
            saved["params"]["column_encodings"] = dict(self.column_encodings)
        return saved

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessor:
        """Rebuild a fitted preprocessor from :meth:`to_dict` output.

        Examples
        --------
        >>> import json
        >>> import pandas as pd
        >>> from modelcycle.core import Column, ColumnKind, Schema
        >>> schema = Schema((Column("x", ColumnKind.NUMERIC),))
        >>> pre = Preprocessor(schema=schema).fit(pd.DataFrame({"x": [1.0, None, 3.0]}))
        >>> saved = json.dumps(pre.to_dict())
        >>> Preprocessor.from_dict(json.loads(saved)).transform({"x": [None]}).tolist()
        [[2.0, 1.0]]
        """
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValidationError(
                f"not a saved Preprocessor: expected format {FORMAT!r}, got "
                f"{data.get('format') if isinstance(data, dict) else type(data).__name__!r}"
            )
        if data.get("format_version") != FORMAT_VERSION:
            raise ValidationError(
                f"saved Preprocessor has format_version {data.get('format_version')!r}; "
                f"this modelcycle reads version {FORMAT_VERSION}"
            )
        preprocessor = cls(schema=Schema.from_dict(data["schema"]), **data["params"])
        encoders = []
        for item in data["encoders"]:
            kind = item.get("kind")
            if kind not in _ENCODER_TYPES:
                raise ValidationError(
                    f"saved encoder kind {kind!r} is unknown; expected one of "
                    f"{sorted(_ENCODER_TYPES)}"
                )
            encoders.append(_ENCODER_TYPES[kind].from_dict(item))
        preprocessor._set_state(list(data["feature_names_in"]), encoders)
        return preprocessor

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` as a JSON file (strict JSON: no NaN) and return its path."""
        target = Path(path)
        target.write_text(json.dumps(self.to_dict(), allow_nan=False), encoding="utf-8")
        return target

    @classmethod
    def load(cls, path: str | Path) -> Preprocessor:
        """Read a preprocessor written by :meth:`save`."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValidationError(
                f"cannot read a saved Preprocessor from {str(path)!r}: {exc}"
            ) from exc
        return cls.from_dict(data)

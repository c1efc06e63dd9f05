"""The training record: what a training run stores, written and read in one place.

``ws.train`` writes it; the registry's gates and model cards, monitoring (its drift
and calibration reference), retraining and ``modelcycle report`` read it. No other
module knows an artifact name, a tag or a param of a training run: they ask a
:class:`TrainingRecord` for typed values, so changing how a run is recorded means
editing this module, and the type checker finds every reader.

A training run holds:

============================  ===============================================
params ``target``, ``task``    what was predicted, and the kind of task
params ``source`` ...          where the data came from; budget, seed, test size
``schema.json``                the table's schema (kinds, dropped columns, notes)
``profile.json``               the training data's profile (the drift reference)
``evaluation/``                the holdout report: JSON, HTML (linking
                               ``plotly.min.js``, stored once for all runs)
``holdout_predictions.parquet`` holdout labels and predictions (CBPE, drift)
``leaderboard.json``           every trial, best first
``validation.json``, tags      the data checks: verdict, what failed, warnings
============================  ===============================================
"""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
import pyarrow.parquet as pq

from modelcycle.core import NotFound, Schema, Task, ValidationError
from modelcycle.data import DatasetFingerprint, Issue, Profile
from modelcycle.reports import PLOTLY_FILE, plotly_js
from modelcycle.tracking import ActiveRun, Run

if TYPE_CHECKING:
    from modelcycle.evaluation import EvaluationReport

# The run's layout: the only place these names are written.
_SCHEMA = "schema.json"
_PROFILE = "profile.json"
_HOLDOUT = "holdout_predictions.parquet"
_LEADERBOARD = "leaderboard.json"
_VALIDATION = "validation.json"
_EVALUATION_FOLDER = "evaluation"
_EVALUATION_JSON = f"{_EVALUATION_FOLDER}/evaluation.json"
_EVALUATION_HTML = f"{_EVALUATION_FOLDER}/evaluation.html"
_TAG_KIND, _KIND = "kind", "training"
_TAG_VALIDATION, _TAG_FAILURES = "validation", "validation_failures"
_TAG_ENSEMBLE = "ensemble"

#: Validation warnings that fail a training run's "validation passed" gate.
FAILING_CODES = frozenset({"leakage"})


@dataclass(frozen=True)
class TrainingFacts:
    """What a training run was asked to do (recorded as params)."""

    target: str
    task: Task
    source: str
    budget: float
    seed: int
    test_size: float
    metric: str | None = None

    def params(self) -> dict[str, Any]:
        return {
            "source": self.source[:500],
            "target": self.target,
            "task": self.task.value,
            "budget": self.budget,
            "seed": self.seed,
            "test_size": self.test_size,
            "metric": self.metric or "default",
        }


@dataclass(frozen=True)
class Validation:
    """The data checks of a training run: a verdict, what failed it, and every warning.

    ``status`` is ``"not recorded"`` for a run no check was recorded for (a model a
    user logged themselves).
    """

    status: Literal["passed", "failed", "not recorded"]
    failures: tuple[str, ...] = ()
    warnings: tuple[Issue, ...] = ()

    @classmethod
    def of(cls, warnings: Sequence[Issue]) -> Validation:
        """The verdict of these warnings: failed when one has a :data:`FAILING_CODES` code."""
        failures = tuple(i.message for i in warnings if i.code in FAILING_CODES)
        return cls("failed" if failures else "passed", failures, tuple(warnings))

    @property
    def failed(self) -> bool:
        return self.status == "failed"


class TrainingRecorder:
    """Writes a training run's record into its open run, in two steps.

    :meth:`inputs` when the data is read and checked (before the search), then
    :meth:`outputs` when the model is evaluated.
    """

    def __init__(self, run: ActiveRun) -> None:
        self.run = run

    def inputs(
        self,
        facts: TrainingFacts,
        schema: Schema,
        profile: Profile,
        datasets: Mapping[str, pd.DataFrame | DatasetFingerprint],
        *,
        dataset_name: str,
    ) -> None:
        """Record what was asked, the data sets used, the schema and the training profile."""
        run = self.run
        run.set_tag(_TAG_KIND, _KIND)
        run.log_params(facts.params())
        for role, frame in datasets.items():
            run.log_dataset(frame, role=role, name=dataset_name)
        run.log_text(json.dumps(schema.to_dict(), indent=2), _SCHEMA)
        run.log_text(json.dumps(profile.to_dict()), _PROFILE)

    def outputs(
        self,
        *,
        validation: Validation,
        ensemble: bool,
        leaderboard: Sequence[Mapping[str, Any]],
        evaluation: EvaluationReport,
        holdout: pd.DataFrame,
    ) -> None:
        """Record the data checks, the search's leaderboard, the evaluation and holdout."""
        run = self.run
        run.set_tags({_TAG_VALIDATION: validation.status, _TAG_ENSEMBLE: str(ensemble).lower()})
        if validation.failures:
            run.set_tag(_TAG_FAILURES, "; ".join(validation.failures)[:5000])
        warnings = [issue.to_dict() for issue in validation.warnings]
        run.log_text(json.dumps({"status": validation.status, "warnings": warnings}), _VALIDATION)
        run.log_text(json.dumps(list(leaderboard), default=str, indent=1), _LEADERBOARD)
        run.log_text(evaluation.to_json(), _EVALUATION_JSON)
        run.log_text(evaluation.to_html(plotly_js_src=PLOTLY_FILE), _EVALUATION_HTML)
        # Content-addressed: every run names it, the artifact store keeps one copy.
        run.log_text(plotly_js(), f"{_EVALUATION_FOLDER}/{PLOTLY_FILE}")
        with tempfile.TemporaryDirectory(prefix="modelcycle-holdout-") as folder:
            path = Path(folder) / _HOLDOUT
            holdout.to_parquet(path, index=False)
            run.log_artifact(path, _HOLDOUT)


class TrainingRecord:
    """A training run's record, read lazily: each artifact is read on first use.

    Built from any run: a run that is not a training run (a model a user logged
    themselves) gives ``None`` for what it lacks, never an error.

    Parameters
    ----------
    run:
        The run, as read (``tracker.get_run``).

    Examples
    --------
    >>> record = TrainingRecord(ws.get_run(version.run_id))  # doctest: +SKIP
    >>> record.target, record.task, record.validation.status  # doctest: +SKIP
    ('churned', <Task.BINARY: 'binary'>, 'passed')
    """

    def __init__(self, run: Run) -> None:
        self.run = run

    @property
    def is_training(self) -> bool:
        """Whether ``ws.train`` made the run (else most parts are ``None``)."""
        return self.run.tags.get(_TAG_KIND) == _KIND or _TAG_VALIDATION in self.run.tags

    @property
    def target(self) -> str | None:
        """The target column."""
        return self.run.params.get("target")

    @property
    def task(self) -> Task | None:
        """The task, as recorded."""
        value = self.run.params.get("task")
        return Task(value) if value in {t.value for t in Task} else None

    @property
    def ensemble(self) -> bool:
        """Whether the search chose an ensemble."""
        return self.run.tags.get(_TAG_ENSEMBLE) == "true"

    @cached_property
    def validation(self) -> Validation:
        """The data checks' verdict, failures and warnings."""
        status = self.run.tags.get(_TAG_VALIDATION)
        if status not in ("passed", "failed"):
            return Validation("not recorded")
        failures = self.run.tags.get(_TAG_FAILURES)
        stored = self._json(_VALIDATION)
        warnings = tuple(Issue.from_dict(w) for w in stored.get("warnings", [])) if stored else ()
        verdict: Literal["passed", "failed"] = "failed" if status == "failed" else "passed"
        return Validation(verdict, tuple(failures.split("; ")) if failures else (), warnings)

    @cached_property
    def schema(self) -> Schema | None:
        """The training table's schema."""
        data = self._json(_SCHEMA)
        return Schema.from_dict(data) if data is not None else None

    @cached_property
    def profile(self) -> Profile | None:
        """The training data's profile (the drift reference)."""
        data = self._json(_PROFILE)
        return Profile.from_dict(data) if data is not None else None

    @cached_property
    def evaluation(self) -> EvaluationReport | None:
        """The holdout evaluation report."""
        from modelcycle.evaluation import EvaluationReport  # SciPy: load on use

        text = self._bytes(_EVALUATION_JSON)
        return EvaluationReport.from_json(text.decode()) if text is not None else None

    @cached_property
    def holdout(self) -> pd.DataFrame | None:
        """Holdout rows: ``y`` and ``proba_0..`` (classifiers) or ``prediction``."""
        data = self._bytes(_HOLDOUT)
        return pq.read_table(io.BytesIO(data)).to_pandas() if data is not None else None

    @cached_property
    def leaderboard(self) -> list[dict[str, Any]]:
        """Every trial of the search, best first (empty when not recorded)."""
        data = self._bytes(_LEADERBOARD)
        return list(json.loads(data)) if data is not None else []

    def evaluation_page(self, destination: Path) -> Path:
        """Write the evaluation report as one self-contained HTML file (plotly.js inlined).

        Raises
        ------
        NotFound
            The run has no evaluation report (it was not made by ``ws.train``).
        """
        report = self.evaluation
        if report is None:
            raise NotFound(
                f"run {self.run.run_id[:8]} has no evaluation report; it was not made by "
                "'modelcycle train'"
            )
        destination.write_text(report.to_html(), encoding="utf-8")
        return destination

    # -- reading ---------------------------------------------------------------------

    @cached_property
    def _stored(self) -> frozenset[str]:
        return frozenset(a["path"] for a in self.run.artifacts)

    def _bytes(self, path: str) -> bytes | None:
        return self.run.read_artifact(path) if path in self._stored else None

    def _json(self, path: str) -> Any:
        data = self._bytes(path)
        if data is None:
            return None
        try:
            return json.loads(data)
        except json.JSONDecodeError as exc:
            raise ValidationError(
                f"run {self.run.run_id[:8]}: artifact {path!r} is not valid JSON ({exc})"
            ) from None

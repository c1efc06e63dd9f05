"""Request bodies of MLflow's tracking REST API (the fields its Python client sends).

Fields are MLflow's own names. Numbers arrive as JSON numbers or, as protobuf's JSON
writes 64-bit integers, as text; both are read. Unknown fields are ignored, as MLflow's
server ignores them, so newer clients keep working.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

#: A text field of a request: bounded, so a huge body is refused before any work.
Text = Annotated[str, Field(max_length=10_000)]
Id = Annotated[str, Field(max_length=200)]
Millis = Annotated[int, Field(ge=0, lt=2**53)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class KeyValue(_Body):
    """MLflow's ``{"key", "value"}`` pair (a tag, a param)."""

    key: Text
    value: Text | None = None


class MetricIn(_Body):
    """One metric value; ``model_id`` links it to a logged model as well."""

    key: Text
    value: float
    timestamp: Millis | None = None
    step: int = 0
    model_id: Id | None = None


class CreateExperiment(_Body):
    name: Text
    artifact_location: Text | None = None
    tags: list[KeyValue] = Field(default_factory=list, max_length=100)


class SearchExperiments(_Body):
    max_results: int = Field(default=1000, ge=1, le=50_000)
    page_token: Text | None = None
    filter: Text | None = None
    order_by: list[Text] = Field(default_factory=list, max_length=10)
    view_type: Text | None = None


class CreateRun(_Body):
    experiment_id: Id | None = None
    user_id: Text | None = None
    run_name: Text | None = None
    start_time: Millis | None = None
    tags: list[KeyValue] = Field(default_factory=list, max_length=100)


class UpdateRun(_Body):
    run_id: Id | None = None
    run_uuid: Id | None = None
    status: Text | None = None
    end_time: Millis | None = None
    run_name: Text | None = None


class SearchRuns(_Body):
    experiment_ids: list[Id] = Field(default_factory=list, max_length=1000)
    filter: Text | None = None
    run_view_type: Text | None = None
    max_results: int = Field(default=1000, ge=1, le=50_000)
    order_by: list[Text] = Field(default_factory=list, max_length=10)
    page_token: Text | None = None


class LogMetric(MetricIn):
    run_id: Id | None = None
    run_uuid: Id | None = None


class LogParam(_Body):
    run_id: Id | None = None
    run_uuid: Id | None = None
    key: Text
    value: Text


class SetTag(LogParam):
    pass


class LogBatch(_Body):
    run_id: Id
    metrics: list[MetricIn] = Field(default_factory=list)
    params: list[KeyValue] = Field(default_factory=list)
    tags: list[KeyValue] = Field(default_factory=list)


class Dataset(_Body):
    name: Text
    digest: Text
    source_type: Text | None = None
    source: Text | None = None
    schema_: Text | None = Field(default=None, alias="schema")
    profile: Text | None = None


class DatasetInput(_Body):
    tags: list[KeyValue] = Field(default_factory=list, max_length=100)
    dataset: Dataset


class LogInputs(_Body):
    run_id: Id
    datasets: list[DatasetInput] = Field(default_factory=list, max_length=1000)
    models: list[dict[str, Any]] = Field(default_factory=list, max_length=1000)


class ModelOutput(_Body):
    model_id: Id
    step: int = 0


class LogOutputs(_Body):
    run_id: Id
    models: list[ModelOutput] = Field(default_factory=list, max_length=1000)


class CreateLoggedModel(_Body):
    experiment_id: Id
    name: Text | None = None
    model_type: Text | None = None
    source_run_id: Id | None = None
    params: list[KeyValue] = Field(default_factory=list, max_length=1000)
    tags: list[KeyValue] = Field(default_factory=list, max_length=1000)


class FinalizeLoggedModel(_Body):
    status: Text


class LoggedModelTags(_Body):
    tags: list[KeyValue] = Field(default_factory=list, max_length=1000)


class LoggedModelParams(_Body):
    params: list[KeyValue] = Field(default_factory=list, max_length=1000)


class SearchLoggedModels(_Body):
    experiment_ids: list[Id] = Field(default_factory=list, max_length=1000)
    filter: Text | None = None
    max_results: int = Field(default=100, ge=1, le=50_000)
    page_token: Text | None = None

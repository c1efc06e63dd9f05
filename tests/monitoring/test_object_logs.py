"""A server and a monitor on two machines sharing logs in a bucket (issue 16).

Machine A trains and serves with its artifacts and logs in object storage; machine B,
another workspace folder with the same database and URLs, monitors what A served.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import fsspec
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import modelcycle as mc
from modelcycle.monitoring import drift_history, parse_rules, read_labelled, run_monitoring
from modelcycle.serving import ServeSettings, create_app
from tests.conftest import ObjectStore
from tests.models import load_cancer
from tests.monitoring.served import bootstrap, top_feature
from tests.serving.conftest import wait_ready

PSI_RULE = "psi > 0.2 top 10 critical"


def _fs() -> Any:
    return fsspec.filesystem("s3", skip_instance_cache=True)


def _serve(ws: mc.Workspace, rows: pd.DataFrame, *, labels: pd.Series | None = None) -> int:
    """Serve ``rows`` in requests of 50 (and send their labels); return the rows answered."""
    settings = ServeSettings(models=("cancer",), log_flush_interval_s=0.2, poll_interval_s=0.1)
    answered = 0
    with TestClient(create_app(ws.services, settings, auth_required=False)) as client:
        wait_ready(client)
        for start in range(0, len(rows), 50):
            chunk = rows.iloc[start : start + 50]
            response = client.post(
                "/v1/models/cancer/predict", json={"rows": chunk.to_dict(orient="records")}
            )
            assert response.status_code == 200, response.text
            answered += len(chunk)
            if labels is not None:
                request_id = response.json()["request_id"]
                items = [
                    {"request_id": request_id, "row": i, "label": int(label)}
                    for i, label in enumerate(labels.iloc[start : start + 50])
                ]
                sent = client.post("/v1/models/cancer/feedback", json={"labels": items})
                assert sent.status_code == 202, sent.text
    return answered


def _rows(found: list[str]) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(_fs().open(key, "rb")).metadata.num_rows for key in found)


@pytest.mark.slow
def test_a_monitor_elsewhere_reads_what_the_server_published(
    object_store: ObjectStore, tmp_path: Path
) -> None:
    data = load_cancer()
    log_bucket = f"mc-logs-{uuid.uuid4().hex[:8]}"  # made only after the first server stopped
    logs = f"s3://{log_bucket}/team/logs"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")
        server = mc.Workspace(tmp_path / "a", artifact_root=object_store.url, log_url=logs)
        server.train(
            data.x_train.assign(target=data.y_train), target="target", name="cancer", budget=6
        )
        server.registry.promote("cancer", 1, force=True)
    assert server.services.layout.remote is not None

    # The bucket is missing: every answered row stays staged on machine A.
    early = _serve(server, bootstrap(data.x_train, 100, seed=3))
    staged = list(server.services.layout.staging.predictions.rglob("*.parquet"))
    assert staged and not _fs().exists(log_bucket)

    # With the bucket back, the next server on A publishes them with its own rows.
    _fs().mkdir(log_bucket)
    feature = top_feature(server)
    shifted = bootstrap(data.x_train, 600, seed=1)
    shifted[feature] += 2.0 * data.x_train[feature].std()
    labelled = data.x_test.reset_index(drop=True).iloc[:100]
    late = _serve(server, shifted) + _serve(
        server, labelled, labels=data.y_test.reset_index(drop=True).iloc[:100]
    )
    assert not list((tmp_path / "a" / "log-staging").rglob("*.parquet"))
    prefix = logs.removeprefix("s3://")
    segments = _fs().find(f"{prefix}/predictions/cancer")
    assert {Path(key).name for key in staged} <= {Path(key).name for key in segments}
    assert _rows(segments) == early + late  # every answered row, once
    assert _fs().find(f"{prefix}/feedback/cancer")
    assert not [key for key in _fs().find(log_bucket) if "/." in key]  # nothing half-written

    # Machine B: another folder, the same database and URLs.
    settings = server.settings.model_copy(
        update={"home": tmp_path / "b", "db_url": server.settings.resolved_db_url()}
    )
    with mc.Workspace(settings=settings) as monitor:
        passed = run_monitoring(monitor.services, "cancer", rules=parse_rules([PSI_RULE]))
        joined = read_labelled(monitor.services.layout, "cancer")
    report = passed.report
    assert report.rows == early + late
    assert report.drift is not None and report.drift[feature].drifted
    assert [alert.rule for alert in report.alerts] == [PSI_RULE]
    assert len(joined) == 100 and set(joined["label"]) <= {0, 1}
    assert _fs().exists(f"{prefix}/reports/cancer/monitor.json")

    # Machine A reads the report B published: the server's route and the drift history.
    (entry,) = drift_history(server.services.layout, "cancer")
    assert entry["features"][feature]["drifted"]
    settings_a = ServeSettings(models=("cancer",))
    with TestClient(create_app(server.services, settings_a, auth_required=False)) as client:
        wait_ready(client)
        answer = client.get("/v1/models/cancer/monitoring")
        assert answer.status_code == 200 and answer.json()["rows"] == early + late
    server.close()

"""The README's workflow with ``--cluster`` and the workspace's files in a bucket (issue 16).

Train on the cluster, report, promote, serve with the log in the bucket, monitor on the
cluster, score a partitioned dataset in the bucket on the cluster: the commands a user
copies from the README, with ``--cluster`` and ``s3://`` URLs added, and nothing else;
on a SQLite workspace and on PostgreSQL (where the search's Optuna studies live too).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import fsspec
import httpx
import pandas as pd
import pytest

from distributed import Client
from tests.conftest import ObjectStore
from tests.models import Data, run_cli
from tests.serving.conftest import free_port, http_ready, serve_process


@pytest.mark.slow
def test_the_readme_workflow_runs_on_a_cluster_with_files_in_a_bucket(
    backend_url: str,
    tmp_path: Path,
    cancer: Data,
    dask_cluster: str,
    dask_client: Client,
    object_store: ObjectStore,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = object_store.environment
    dask_client.run(lambda: os.environ.update(env))  # the workers' credentials, as deployed
    artifacts = object_store.url
    logs = artifacts.replace("/artifacts", "/logs")
    shared = ["-w", backend_url, "--artifacts", artifacts, "--log-url", logs]
    data = tmp_path / "data.csv"
    cancer.x_train.assign(target=cancer.y_train).to_csv(data, index=False)

    code, out, err = run_cli(
        capsys, *shared, "train", str(data), "--target", "target", "--name", "churn",
        "--budget", "10", "--promote", "--cluster", dask_cluster, "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["version"]["version"] == 1
    assert not list(tmp_path.rglob("artifacts"))  # the model went to the bucket
    code, _, err = run_cli(
        capsys, *shared, "report", "churn@champion", "-o", str(tmp_path / "r.html")
    )
    assert code == 0, err and (tmp_path / "r.html").stat().st_size > 10_000

    rows = cancer.x_test.iloc[:80]
    port = free_port()
    with serve_process(
        [*shared, "serve", "churn", "--port", str(port), "--no-auth"], tmp_path / "s"
    ):
        url = f"http://127.0.0.1:{port}"
        http_ready(url)
        for start in range(0, len(rows), 20):
            batch = rows.iloc[start : start + 20].to_dict(orient="records")
            answer = httpx.post(f"{url}/v1/models/churn/predict", json={"rows": batch})
            assert answer.status_code == 200, answer.text
    assert fsspec.filesystem("s3", skip_instance_cache=True).find(
        logs.removeprefix("s3://") + "/predictions/churn"
    )

    reports = {}
    for where in ("here", "cluster"):
        extra = ["--cluster", dask_cluster] if where == "cluster" else []
        code, out, err = run_cli(
            capsys, *shared, "monitor", "churn", "--json", "--no-record",
            "-o", str(tmp_path / where), *extra,
        )  # fmt: skip
        assert code == 0, err
        reports[where] = json.loads(out)
    assert reports["cluster"]["rows"] == reports["here"]["rows"] == len(rows)
    assert reports["cluster"]["drift"] == reports["here"]["drift"] is not None
    assert reports["cluster"]["metrics"] == reports["here"]["metrics"]

    bucket = artifacts.split("/")[2]
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    for index in range(3):
        part = cancer.x_test.iloc[index * 30 : (index + 1) * 30]
        with fs.open(f"{bucket}/rows/part-{index}.parquet", "wb") as handle:
            part.to_parquet(handle)
    code, out, err = run_cli(
        capsys, *shared, "score", "churn@champion", f"s3://{bucket}/rows",
        "-o", f"s3://{bucket}/scored", "--cluster", dask_cluster,
    )  # fmt: skip
    assert code == 0, err
    assert "scored 90 rows of 3 partitions" in out
    with fs.open(f"{bucket}/scored/part-1.parquet") as handle:
        assert len(pd.read_parquet(handle)) == 30
    everything = out + err
    assert env["AWS_SECRET_ACCESS_KEY"] not in everything

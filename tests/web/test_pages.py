"""The pages over HTTP: runs paged, sorted and filtered in SQL, compare, models, operation,
the dashboard mounted beside the API by ``modelcycle serve`` (issue 14)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import duckdb
import httpx
import numpy as np
import pytest

from modelcycle.lifecycle import paired_bootstrap
from modelcycle.monitoring import drift_history, parse_rules, read_predictions, run_monitoring
from modelcycle.reports import plotly_js
from modelcycle.serving import ServeSettings, create_app
from modelcycle.web import _pages, _queries, create_web_app, with_dashboard
from modelcycle.web._mount import built_on_first_request
from modelcycle.web._queries import _downsample
from tests.models import Data
from tests.web.conftest import (
    PSI_RULE,
    SENSITIVE,
    Site,
    page_text,
    predict_shifted,
    running,
    serve_private_model,
)


def _names(response: httpx.Response) -> list[str]:
    return re.findall(r'<a href="/runs/[0-9a-f]+">([^<]+)</a>', response.text)


def test_the_runs_table_pages_in_sql(site: Site) -> None:
    client = site.signed_in("vic")
    first = client.get("/runs?experiment=sweep&sort=name&order=asc&size=25")
    second = client.get("/runs?experiment=sweep&sort=name&order=asc&size=25&page=2")
    assert "30 run(s)" in page_text(first) and "page 1 of 2" in page_text(first)
    assert _names(first) == [f"sweep-{i:02d}" for i in range(25)]
    assert _names(second) == [f"sweep-{i:02d}" for i in range(25, 30)]
    assert 'rel="next"' in first.text and 'rel="prev"' in second.text
    # the last page knows the total without counting; past the end it is counted
    assert "30 run(s)" in page_text(second) and "page 2 of 2" in page_text(second)
    beyond = client.get("/runs?experiment=sweep&sort=name&order=asc&size=25&page=3")
    assert "30 run(s)" in page_text(beyond) and _names(beyond) == []
    none = client.get("/runs", params={"experiment": "sweep", "filter": "metrics.score > 99"})
    assert "0 run(s)" in page_text(none)


def test_a_filtered_table_counts_up_to_a_cap_and_says_more_than(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14: past the cap the count says "more than N", below it is exact, and the
    pager still walks every matching run once."""
    monkeypatch.setattr(_queries, "COUNT_CAP", 10)
    client = site.signed_in("vic")
    wide = {"experiment": "sweep", "filter": "metrics.score >= 0.02", "sort": "name"}
    first = client.get("/runs", params={**wide, "order": "asc", "size": 25})
    text = page_text(first)
    assert "more than 10 runs" in text and "page 1 of at least 1" in text
    assert 'rel="next"' in first.text
    last = client.get("/runs", params={**wide, "order": "asc", "size": 25, "page": 2})
    assert "28 run(s)" in page_text(last) and "page 2 of 2" in page_text(last)
    assert _names(first) + _names(last) == [f"sweep-{i:02d}" for i in range(2, 30)]
    narrow = client.get("/runs", params={**wide, "filter": "metrics.score >= 0.24"})
    assert "6 run(s)" in page_text(narrow)  # below the cap: exact
    exactly = client.get("/runs", params={**wide, "filter": "metrics.score >= 0.2", "size": 25})
    assert "10 run(s)" in page_text(exactly) and "more than" not in page_text(exactly)
    unfiltered = client.get("/runs?experiment=sweep&size=25")
    assert "30 run(s)" in page_text(unfiltered)  # no filter: counted exactly from an index


def test_sort_by_a_metric_and_filter_with_the_runs_language(site: Site) -> None:
    client = site.signed_in("vic")
    ranked = client.get("/runs?sort=metrics.score&order=desc&size=25")
    assert _names(ranked)[:3] == ["sweep-29", "sweep-28", "sweep-27"]
    chosen = client.get(
        "/runs",
        params={"filter": "params.lr = '0.1' and metrics.score >= 0.2", "sort": "name"},
    )
    assert sorted(_names(chosen)) == ["sweep-21", "sweep-24", "sweep-27"]


def test_columns_are_chosen_in_the_url(site: Site) -> None:
    client = site.signed_in("vic")
    response = client.get("/runs?experiment=sweep&columns=params.depth,metrics.loss")
    assert "params.depth" in response.text and "metrics.loss" in response.text
    assert "metrics.score</a>" not in response.text


@pytest.mark.parametrize(
    "query",
    [
        "filter=metrics.score >>> 1",
        "filter=" + "(" * 40 + "metrics.a > 1" + ")" * 40,
        "sort=metrics.score; DROP TABLE runs",
        "sort=../etc",
        "size=1000000",
        "page=-1",
        "columns=metrics.a,evil<script>",
    ],
)
def test_a_bad_table_request_says_why_with_400(site: Site, query: str) -> None:
    response = site.signed_in("vic").get("/runs?" + query)
    assert response.status_code == 400
    assert 'class="error"' in response.text and "<script>" not in response.text


def test_names_from_users_are_escaped(site: Site) -> None:
    with site.ws.start_run(experiment="x", name="<script>alert(1)</script>") as run:
        run.log_param("p", '"><img src=x onerror=alert(1)>')
        run_id = run.run_id
    site.ws.tracker.flush()
    client = site.signed_in("vic")
    for path in ("/runs", f"/runs/{run_id}", f"/compare?run={run_id}"):
        text = client.get(path).text
        assert "<script>alert(1)" not in text and "<img src=x" not in text


def test_compare_shows_params_side_by_side_with_differences(site: Site) -> None:
    client = site.signed_in("vic")
    ids = re.findall(r'name="run" value="([0-9a-f]+)"', client.get("/runs?sort=name").text)
    response = client.get("/compare", params=[("run", i) for i in ids[:3]])
    assert response.status_code == 200
    assert "Compare 3 runs" in response.text and 'class="text differ"' in response.text
    assert 'src="/static/plotly.min.js"' in response.text
    assert client.get("/compare").status_code == 422
    many = client.get("/compare", params=[("run", i) for i in ids[:25]] * 2)
    assert many.status_code == 200 and f"Compare {min(len(ids), 25)} runs" in many.text
    assert client.get("/compare", params={"run": "x" * 33}).status_code == 422
    assert client.get("/compare?run=ffffffffffffffffffffffffffffffff").status_code == 404


def test_compare_folds_rows_past_the_first_and_unlabels_a_crowded_axis(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14: 500 runs drew 25,000 table cells and 500 axis names up front; past the
    limits the rows are folded (still in the page) and the names show on hover."""
    monkeypatch.setattr(_pages, "_TABLE_ROWS", 2)
    monkeypatch.setattr(_pages, "_LABELLED_RUNS", 2)
    client = site.signed_in("vic")
    ids = re.findall(r'name="run" value="([0-9a-f]+)"', client.get("/runs?sort=name").text)
    few = client.get("/compare", params=[("run", i) for i in ids[:2]]).text
    assert 'id="more-runs"' not in few and '"showticklabels":true' in few
    many = client.get("/compare", params=[("run", i) for i in ids[:5]]).text
    opened, folded = many.split('id="more-runs"')
    assert opened.count('scope="row"') == 2 and folded.count('scope="row"') == 3
    assert "The other 3 runs (rows 3 to 5)" in folded
    assert all(f"/runs/{i}" in many for i in ids[:5])
    assert '"showticklabels":false' in many
    assert "5 runs, in the table's order (names on hover)" in many


def test_a_long_history_is_cut_to_a_charts_width_keeping_its_extremes() -> None:
    series = [(step, float(step % 97)) for step in range(10_000)]
    series[5_000] = (5_000, 1e6)
    steps, values = _downsample(series, 300)
    assert len(steps) <= 302 and steps[0] == 0 and steps[-1] == 9_999
    assert 1e6 in values and steps == sorted(steps)


def test_a_training_run_shows_its_evaluation(site: Site) -> None:
    client = site.signed_in("vic")
    response = client.get(f"/runs/{site.runs[0]}")
    assert response.status_code == 200 and "test_roc_auc" in response.text
    assert client.get(f"/runs/{site.runs[0][:8]}").status_code == 200  # a prefix works
    assert client.get("/runs/ffffffff").status_code == 404


def test_models_show_versions_aliases_gates_and_lineage(site: Site) -> None:
    client = site.signed_in("vic")
    assert "cancer" in client.get("/models").text
    text = page_text(client.get("/models/cancer"))
    assert "@champion → version 1" in text and "test_roc_auc" in text
    assert "check gates" in text and "Roll back" not in text  # a viewer acts on nothing
    assert "Lineage of @champion" in text
    assert client.get("/models/cancer/card").status_code == 200
    assert client.get("/models/unknown").status_code == 404
    maintainer = page_text(site.signed_in("max").get("/models/cancer"))
    assert "promote" in maintainer and "archive" in maintainer


def test_the_operation_page_without_a_report_says_how_to_get_one(site: Site) -> None:
    text = page_text(site.signed_in("vic").get("/models/cancer/operation"))
    assert "modelcycle monitor cancer" in text and "mean radius" in text


def test_operation_shows_logged_rows_as_stored_and_drift_over_time(
    site: Site, cancer: Data
) -> None:
    name = serve_private_model(site.ws, cancer)
    predict_shifted(site.ws, cancer, rows=100)
    for _ in range(2):
        run_monitoring(site.ws.services, name, rules=parse_rules([PSI_RULE]))
    response = site.signed_in("vic").get(f"/models/{name}/operation")
    assert response.status_code == 200
    table = re.search(r'<table class="data" id="samples">.*?</table>', response.text, re.S)
    assert table is not None
    header = re.findall(r"<th[^>]*>(.*?)</th>", table.group(0), re.S)
    column = next(i for i, h in enumerate(header) if h.startswith(SENSITIVE))
    assert "(sensitive)" in header[column]
    cells = [
        re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[column]
        for row in re.findall(r"<tr><td.*?</tr>", table.group(0), re.S)
    ]
    logged = read_predictions(site.ws.services.layout, name, last_rows=20)
    assert len(cells) == 20 == len(logged)
    stored = {json.loads(text)[SENSITIVE] for text in _raw_inputs(site, name)}
    assert set(cells) <= stored and all(len(cell) >= 16 for cell in cells)  # hashes
    assert not any(re.fullmatch(r"[0-9.]+", cell) for cell in cells)  # never the value
    history = drift_history(site.ws.services.layout, name)
    assert len(history) == 2 and history[-1]["features"]["mean texture"]["drifted"]
    assert 'id="chart-drift-history"' in response.text
    figure = _figure(response.text, "chart-drift-history")
    assert len(figure["data"]) == len(history[-1]["features"])
    assert all(len(trace["x"]) == 2 for trace in figure["data"])


def _raw_inputs(site: Site, name: str) -> list[str]:
    folder = site.ws.services.layout.predictions_of(name)
    return [
        row[0]
        for row in duckdb.sql(
            f"select inputs from read_parquet('{folder}/*.parquet', union_by_name=true)"
        ).fetchall()
    ]


def _figure(html: str, chart: str) -> dict[str, Any]:
    """The plotly figure of ``chart`` as the page embeds it."""
    found = re.search(rf'id="{chart}".*?<script[^>]*>(.*?)</script>', html, re.S)
    assert found is not None, f"no chart {chart!r}"
    start = found.group(1).index("[")
    data, _ = json.JSONDecoder().raw_decode(found.group(1)[start:])
    return {"data": data}


def test_retraining_audit_and_users_pages(site: Site) -> None:
    ada = site.signed_in("ada")
    assert "No policy" in page_text(ada.get("/retraining"))
    audit = page_text(ada.get("/audit"))
    assert "verifies" in audit and "session.login" in audit
    assert "pia" in page_text(ada.get("/users"))


def test_retraining_shows_each_challenger_decision_with_its_interval(site: Site) -> None:
    """The comparison a ``retrain`` job stores is the row the page shows."""
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, 400)
    champion = (truth * 0.2 + rng.random(400)) / 1.2
    challenger = (truth * 0.6 + rng.random(400)) / 1.6
    comparison = paired_bootstrap(truth, champion, challenger, "roc_auc", n_resamples=200)
    job = site.ws.services.jobs.enqueue("retrain", "cancer", {"trigger": "drift"})
    assert job is not None and site.ws.services.jobs.claim("test", 60) is not None
    result = {
        "version": 2,
        "champion": 1,
        "decision": comparison.decide(0.0),
        "reason": "roc_auc: challenger gains ...",
        "comparison": comparison.to_dict(),
        "outcome": "kept",
    }
    assert site.ws.services.jobs.complete(job.job_id, "test", result)
    response = site.signed_in("vic").get("/retraining")
    row = re.search(r'<table class="data" id="decisions">.*?</table>', response.text, re.S)
    assert row is not None
    text = re.sub(r"<[^>]+>", " ", row.group(0))
    assert comparison.low > 0 and comparison.decide(0.0) == "promote"
    assert f"95% [{comparison.low:+.4g}, {comparison.high:+.4g}]" in text
    assert f"{comparison.improvement:+.4g}" in text and "promote" in text and "kept" in text


def test_pages_have_titles_and_security_headers(site: Site) -> None:
    response = site.signed_in("vic").get("/models/cancer")
    assert "<title>Model cancer · modelcycle</title>" in response.text
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy
    assert response.headers["x-frame-options"] == "DENY"


def test_plotly_is_served_from_the_installed_package(site: Site) -> None:
    response = site.client().get("/static/plotly.min.js")
    assert response.status_code == 200 and response.text == plotly_js()


def test_serve_mounts_the_dashboard_beside_the_api(site: Site) -> None:
    api = create_app(site.ws.services, ServeSettings())
    with running(with_dashboard(api, create_web_app(site.ws.services))) as base:
        client = httpx.Client(base_url=base, follow_redirects=False)
        assert client.get("/health/live").status_code == 200
        assert client.get("/v1/models").status_code == 401  # the API keeps its keys
        assert client.get("/api/2.0/mlflow/experiments/search").status_code == 401
        assert client.get("/").headers["location"] == "/runs"
        assert client.get("/runs").headers["location"].startswith("/login")


@contextmanager
def _lazy_dashboard(site: Site, build: Callable[[], Any]) -> Iterator[httpx.Client]:
    """The API with the dashboard ``build`` makes on its first request, as ``serve`` runs it."""
    api = create_app(site.ws.services, ServeSettings())
    with running(with_dashboard(api, built_on_first_request(build))) as base:
        yield httpx.Client(base_url=base, follow_redirects=False)


def test_serve_builds_the_dashboard_on_its_first_page_once(site: Site) -> None:
    """Issue 12: ``modelcycle serve`` is ready before the dashboard is built; the first
    dashboard requests, even concurrent ones, build it once; API requests never do."""
    builds: list[int] = []

    def build() -> Any:
        builds.append(1)
        return create_web_app(site.ws.services)

    with _lazy_dashboard(site, build) as client:
        assert client.get("/health/ready").status_code == 200
        assert client.get("/v1/models").status_code == 401
        assert builds == []
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda _: client.get("/runs"), range(4)))
        assert all(a.headers["location"].startswith("/login") for a in answers)
        assert client.get("/login").status_code == 200
        assert builds == [1]


def test_a_failed_dashboard_build_is_tried_again(site: Site) -> None:
    attempts: list[int] = []

    def build() -> Any:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("the first build fails")
        return create_web_app(site.ws.services)

    with _lazy_dashboard(site, build) as client:
        assert client.get("/login").status_code == 500
        assert client.get("/login").status_code == 200
        assert client.get("/health/live").status_code == 200
        assert attempts == [1, 1]


def _plotly_layout(div: str) -> dict[str, Any]:
    """The layout object a chart ``<div>`` passes to ``Plotly.newPlot``."""
    rest = div[div.index("Plotly.newPlot(") + len("Plotly.newPlot(") :]
    decoder = json.JSONDecoder()
    for _ in range(2):  # the element id, then the traces
        _, end = decoder.raw_decode(rest.lstrip())
        rest = rest.lstrip()[end:].lstrip().removeprefix(",")
    layout, _ = decoder.raw_decode(rest.lstrip())
    return dict(layout)


def test_the_traffic_chart_shares_its_zero_and_grid_between_its_two_axes() -> None:
    latency = [
        {"time": f"2025-01-01T00:0{i}:00Z", "p50": 1.0 + i, "p99": 3.0 + i, "requests": 10 * i}
        for i in range(4)
    ]
    layout = _plotly_layout(_pages._operation_charts({"latency": latency})["traffic"])
    assert layout["yaxis"]["rangemode"] == layout["yaxis2"]["rangemode"] == "tozero"
    assert layout["yaxis2"]["showgrid"] is False and layout["yaxis2"]["overlaying"] == "y"

"""A filtered page or a bounded count read from a window of the newest runs gives the
same answer as the search over every run (issue 14: the runs table at 100,000 runs)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

import modelcycle as mc
from modelcycle.store import tables
from modelcycle.tracking import _window

FILTERS = [
    "metrics.score > 0.1",  # most runs
    "metrics.score >= 0 and params.lr = '0.1'",  # a third
    "metrics.score > 0.55",  # a few
    "metrics.score is null or tags.team = 'a'",
    "not params.lr in ('0.2', '0.3') and status = 'FINISHED'",
    "params.depth != '1' and metrics.loss < 0.9",
    "tags.team like 'b%'",
    "metrics.missing > 0",  # none
]
ORDERS: list[str | list[str] | None] = [
    None,
    "start_time ASC",
    "name DESC",
    "end_time",
    ["status", "metrics.score DESC"],
]


@pytest.fixture
def small_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows of a few runs, so a workspace of 40 runs has searches of every kind."""
    monkeypatch.setattr(_window, "MIN_WINDOW", 4)
    monkeypatch.setattr(_window, "WINDOW_FACTOR", 2)


def _seed(ws: mc.Workspace) -> None:
    """40 runs in two experiments; runs start in threes at the same millisecond (a
    window ends inside a tie)."""
    ids = []
    for index in range(40):
        experiment = "sweep" if index % 4 else "other"
        with ws.start_run(experiment=experiment, name=f"r{index % 7}-{index:02d}") as run:
            run.log_params({"lr": f"0.{index % 3 + 1}", "depth": str(index % 5)})
            if index % 6:
                run.log_metric("score", (index % 13) / 20)
            run.log_metric("loss", 1.0 / (index + 1))
            if index % 5 == 0:
                run.set_tag("team", "a" if index % 2 else "b")
        ids.append(run.run_id)
    ws.tracker.flush()
    with ws.db.engine.begin() as connection:
        for index, run_id in enumerate(ids):
            connection.execute(
                sa.update(tables.runs)
                .where(tables.runs.c.run_id == run_id)
                .values(start_time=1_000 + index // 3)
            )


@contextmanager
def _statements(ws: mc.Workspace) -> Iterator[list[str]]:
    """The SQL statements run inside the block."""
    seen: list[str] = []

    def remember(*args: object) -> None:
        seen.append(str(args[2]))

    sa.event.listen(ws.db.engine, "before_cursor_execute", remember)
    try:
        yield seen
    finally:
        sa.event.remove(ws.db.engine, "before_cursor_execute", remember)


@pytest.mark.usefixtures("small_window")
def test_filtered_pages_equal_the_whole_searchs_pages(workspace: mc.Workspace) -> None:
    _seed(workspace)
    tracker = workspace.tracker
    for experiment in (None, "sweep"):
        for text in FILTERS:
            for order in ORDERS:
                whole = [
                    r.run_id
                    for r in tracker.runs(experiment, filter=text, order_by=order, limit=None)
                ]
                for size in (3, 10):
                    paged = [
                        r.run_id
                        for offset in range(0, 45, size)
                        for r in tracker.runs(
                            experiment, filter=text, order_by=order, limit=size, offset=offset
                        )
                    ]
                    assert paged == whole, (experiment, text, order, size)
                    for offset, at_most in ((0, 4), (3, 30), (size * 2, 5), (40, 1)):
                        page, count = tracker.runs_counted(
                            experiment,
                            filter=text,
                            order_by=order,
                            limit=size,
                            offset=offset,
                            at_most=at_most,
                        )
                        expected = whole[offset : offset + size]
                        assert [r.run_id for r in page] == expected, (text, order, offset)
                        assert count == min(len(whole), at_most + 1), (text, offset, at_most)


@pytest.mark.usefixtures("small_window")
def test_a_bounded_count_is_exact_up_to_its_bound(workspace: mc.Workspace) -> None:
    _seed(workspace)
    tracker = workspace.tracker
    for experiment in (None, "sweep", "other"):
        for text in FILTERS:
            exact = tracker.count_runs(experiment, filter=text)
            assert exact == len(tracker.runs(experiment, filter=text, limit=None))
            for at_most in (0, 1, 3, 8, exact - 1, exact, 100):
                if at_most < 0:
                    continue
                bounded = tracker.count_runs(experiment, filter=text, at_most=at_most)
                assert bounded == min(exact, at_most + 1), (experiment, text, at_most)
    assert tracker.count_runs(at_most=3) == 4 and tracker.count_runs() == 40
    with pytest.raises(mc.ValidationError, match="at_most -1 is not valid"):
        tracker.count_runs(at_most=-1)
    with pytest.raises(mc.ValidationError, match="limit True is not valid"):
        tracker.runs_counted(limit=True, at_most=3)  # type: ignore[arg-type]


@pytest.mark.usefixtures("small_window")
def test_a_filter_matching_often_reads_only_the_window(workspace: mc.Workspace) -> None:
    """The page and the bound come from ``EXISTS`` lookups in the window, never from
    the filter's whole lists; a filter matching rarely reads the lists instead."""
    _seed(workspace)
    tracker = workspace.tracker
    with _statements(workspace) as seen:
        assert len(tracker.runs(filter="metrics.loss > 0", limit=3)) == 3
        assert tracker.count_runs(filter="metrics.loss > 0", at_most=4) == 5
    searches = [s for s in seen if "value >" in s]  # the statements applying the filter
    assert searches and all("EXISTS" in s for s in searches)
    assert not any("latest_metrics.value >" in s for s in searches)  # no whole list
    with _statements(workspace) as seen:
        page, count = tracker.runs_counted(filter="metrics.loss > 0", limit=3, at_most=4)
        assert len(page) == 3 and count == 5
    assert not any("latest_metrics.value >" in s for s in seen)
    with _statements(workspace) as seen:
        assert len(tracker.runs(filter="metrics.loss > 0.9", limit=3)) == 1
        assert tracker.count_runs(filter="metrics.loss > 0.9", at_most=4) == 1
        page, count = tracker.runs_counted(filter="metrics.loss > 0.9", limit=3, at_most=4)
        assert len(page) == 1 and count == 1
    assert sum("latest_metrics.value >" in s and "EXISTS" not in s for s in seen) == 4

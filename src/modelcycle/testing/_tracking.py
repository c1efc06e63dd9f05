"""The tracking contract: every database backend must pass these checks.

Subclass :class:`TrackingContract` in a test module and provide a ``workspace``
fixture that yields a fresh :class:`~modelcycle.Workspace` on the backend under test.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from modelcycle.core import Conflict, IntegrityError, NotFound, ValidationError
from modelcycle.tracking import ActiveRun
from modelcycle.workspace import Workspace


def _seed_runs(ws: Workspace) -> dict[str, str]:
    ids = {}
    grid = [
        ("a", "0.1", 0.95, 3),
        ("b", "0.1", 0.85, 5),
        ("c", "0.01", 0.92, 3),
        ("d", "0.001", 0.70, 8),
    ]
    for name, lr, auc, depth in grid:
        with ws.start_run(experiment="search", name=name) as run:
            run.log_params({"lr": lr, "depth": depth})
            run.log_metric("auc", auc - 0.1, step=0)
            run.log_metric("auc", auc, step=1)
            run.set_tag("team", "risk" if name in "ab" else "growth")
        ids[name] = run.run_id
    return ids


class TrackingContract:
    """Checks of runs, params, metrics, tags, queries and artifacts on one backend."""

    def test_run_round_trip(self, workspace: Workspace) -> None:
        with workspace.start_run(experiment="churn", name="first") as run:
            run.log_params({"lr": 0.1, "layers": [64, 32]})
            run.log_metric("auc", 0.90, step=1)
            run.log_metric("auc", 0.91, step=3)
            run.log_metric("auc", 0.80, step=2)
            run.set_tags({"team": "risk"})
        stored = workspace.get_run(run.run_id)
        assert stored.status == "FINISHED"
        assert stored.experiment == "churn" and stored.name == "first"
        assert stored.params == {"lr": "0.1", "layers": "[64, 32]"}
        assert stored.metrics == {"auc": 0.91}  # latest = highest step, not last logged
        assert [(s, v) for s, v, _ in stored.metric_history("auc")] == [
            (1, 0.9),
            (2, 0.8),
            (3, 0.91),
        ]
        assert stored.tags == {"team": "risk"}
        assert stored.end_time is not None and stored.end_time >= stored.start_time

    def test_exception_ends_run_failed_with_error(self, workspace: Workspace) -> None:
        def fail(run: ActiveRun) -> None:
            run.log_metric("loss", 1.5)
            _ = 1 / 0

        with pytest.raises(ZeroDivisionError), workspace.start_run(experiment="x") as run:
            fail(run)
        stored = workspace.get_run(run.run_id)
        assert stored.status == "FAILED"
        assert stored.error is not None and "ZeroDivisionError" in stored.error
        assert stored.metrics == {"loss": 1.5}  # logged before the failure: kept

    def test_params_are_immutable(self, workspace: Workspace) -> None:
        with workspace.start_run() as run:
            run.log_param("lr", 0.1)
            run.log_param("lr", "0.1")  # same value again is fine
            with pytest.raises(Conflict, match=r"param 'lr' .* already '0.1'.*0.2"):
                run.log_param("lr", 0.2)
        assert workspace.get_run(run.run_id).params == {"lr": "0.1"}

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (math.nan, "finite number"),
            (math.inf, "finite number"),
            ("0.9", "expected a finite number"),
            (None, "expected a finite number"),
            (True, "expected a finite number"),
        ],
    )
    def test_bad_metric_values_are_refused(
        self, workspace: Workspace, value: Any, expected: str
    ) -> None:
        with workspace.start_run() as run:
            with pytest.raises(ValidationError, match=expected) as caught:
                run.log_metric("auc", value)
            assert "'auc'" in str(caught.value)
        assert workspace.get_run(run.run_id).metrics == {}

    def test_bad_names_and_long_params_are_refused(self, workspace: Workspace) -> None:
        limit = workspace.settings.max_param_length
        with workspace.start_run() as run:
            with pytest.raises(
                ValidationError, match=f"{limit + 1} characters; the limit is {limit}"
            ):
                run.log_param("prompt", "x" * (limit + 1))
            with pytest.raises(ValidationError, match="metric name"):
                run.log_metric("", 1.0)
            with pytest.raises(ValidationError, match=r"step 1\.5"):
                run.log_metric("auc", 0.5, step=1.5)  # type: ignore[arg-type]
        assert workspace.get_run(run.run_id).params == {}

    def test_logging_after_end_is_refused(self, workspace: Workspace) -> None:
        run = workspace.start_run()
        run.end()
        with pytest.raises(ValidationError, match="has ended"):
            run.log_metric("auc", 0.5)

    def test_child_runs(self, workspace: Workspace) -> None:
        with workspace.start_run(experiment="tune", name="parent") as parent:
            with parent.start_child(name="trial-0") as child:
                child.log_metric("auc", 0.7)
            with workspace.start_run(parent=parent, name="trial-1") as other:
                other.log_metric("auc", 0.8)
        children = workspace.get_run(parent.run_id).children
        assert [c.name for c in children] == ["trial-0", "trial-1"]
        assert all(c.parent_run_id == parent.run_id and c.experiment == "tune" for c in children)
        with pytest.raises(NotFound, match=r"run 'f+' does not exist"):
            workspace.start_run(parent="f" * 32)

    def test_filter_order_and_limit(self, workspace: Workspace) -> None:
        ids = _seed_runs(workspace)
        found = workspace.runs("search", filter="metrics.auc > 0.9 and params.lr = '0.1'")
        assert [r.run_id for r in found] == [ids["a"]]
        ordered = workspace.runs("search", order_by="metrics.auc DESC")
        assert [r.name for r in ordered] == ["a", "c", "b", "d"]
        assert [
            r.name for r in workspace.runs("search", order_by=["params.lr", "metrics.auc"], limit=2)
        ] == ["d", "c"]
        either = workspace.runs("search", filter="tags.team = 'growth' or (metrics.auc >= 0.95)")
        assert {r.name for r in either} == {"a", "c", "d"}
        assert {
            r.name for r in workspace.runs("search", filter="params.lr in ('0.01', '0.001')")
        } == {"c", "d"}
        assert {r.name for r in workspace.runs("search", filter="not params.depth = '3'")} == {
            "b",
            "d",
        }
        assert {
            r.name for r in workspace.runs(filter="name like 'a%' and status = 'FINISHED'")
        } == {"a"}
        assert workspace.runs("search", filter="metrics.missing > 0") == []
        assert workspace.runs("no-such-experiment") == []

    def test_sorting_by_a_value_pages_runs_without_it_last(self, workspace: Workspace) -> None:
        """Runs that logged the sorted value come first in its order, then the others."""
        names = []
        for index, score in enumerate((0.3, None, 0.9, 0.5, None, 0.1, None)):
            with workspace.start_run(experiment="paged", name=f"r{index}") as run:
                if score is not None:
                    run.log_metric("score", score)
                    run.log_param("tier", f"t{int(score * 10)}")
            names.append(run.run_id)
        without = sorted(names[i] for i in (1, 4, 6))
        for order, ranked in (
            ("DESC", ["r2", "r3", "r0", "r5"]),
            ("ASC", ["r5", "r0", "r3", "r2"]),
        ):
            expected = [names[int(n[1:])] for n in ranked] + without
            for field in ("metrics.score", "params.tier"):
                whole = workspace.tracker.runs("paged", order_by=f"{field} {order}", limit=None)
                assert [r.run_id for r in whole] == expected, (field, order)
                pages = [
                    r.run_id
                    for offset in range(0, 7, 3)
                    for r in workspace.tracker.runs(
                        "paged", order_by=f"{field} {order}", limit=3, offset=offset
                    )
                ]
                assert pages == expected, (field, order)
        beyond = workspace.tracker.runs("paged", order_by="metrics.score", limit=2, offset=5)
        assert [r.run_id for r in beyond] == without[1:]

    def test_a_long_param_value_is_matched_whole(self, workspace: Workspace) -> None:
        """Filters on params and tags read an index of the value's first characters."""
        shared = "x" * 300
        for name in ("a", "b"):
            with workspace.start_run(experiment="long", name=name) as run:
                run.log_param("blob", shared + name)
                run.set_tag("note", shared + name)
        for text in (
            f"params.blob = '{shared}b'",
            f"tags.note in ('{shared}b', 'other')",
            f"params.blob != '{shared}a'",
            f"not tags.note = '{shared}a'",
        ):
            assert [r.name for r in workspace.runs("long", filter=text)] == ["b"], text
        assert workspace.runs("long", filter=f"params.blob = '{shared}'") == []

    def test_runs_as_frame(self, workspace: Workspace) -> None:
        _seed_runs(workspace)
        frame = workspace.runs("search", order_by="metrics.auc DESC", as_frame=True)
        assert isinstance(frame, pd.DataFrame)
        assert list(frame["name"]) == ["a", "c", "b", "d"]
        assert {"metrics.auc", "params.lr", "params.depth", "tags.team"} <= set(frame.columns)
        assert frame["metrics.auc"].tolist() == pytest.approx([0.95, 0.92, 0.85, 0.70])
        empty = workspace.runs("nothing", as_frame=True)
        assert empty.empty and "run_id" in empty.columns

    @pytest.mark.parametrize(
        ("text", "where"),
        [
            ("metrics.auc >> 0.9", "position 14 ('>')"),
            ("metrics.auc > ", "at the end"),
            ("metrics.auc > 0.9 and", "at the end"),
            ("params.lr = 0.1", "quote the value"),
            ("metrics.auc = 'high'", "expected a number"),
            ("colour = 'red'", "metrics.<key>"),
            ("(metrics.auc > 0.9", "')'"),
            ("metrics.auc > 0.9 $", "unexpected character"),
        ],
    )
    def test_bad_filters_name_the_problem(
        self, workspace: Workspace, text: str, where: str
    ) -> None:
        with pytest.raises(ValidationError, match="filter") as caught:
            workspace.runs(filter=text)
        assert where in str(caught.value)

    def test_quoted_keys_in_filters_and_order(self, workspace: Workspace) -> None:
        """Issue 12: the README's ``metrics.`val loss` < 0.3`` and the double-quoted form."""
        names = {}
        for name, loss in (("low", 0.2), ("high", 0.5)):
            with workspace.start_run(experiment="quoted", name=name) as run:
                run.log_metrics({"val loss": loss, "a.b": loss * 10, "x: y/z": loss})
                run.log_params({"learning rate": name})
                run.set_tag("data set", f"{name}-v2")
            names[run.run_id] = name
        found = {
            text: sorted(names[run.run_id] for run in workspace.runs("quoted", filter=text))
            for text in (
                "metrics.`val loss` < 0.3",
                'metrics."val loss" < 0.3',
                "metrics.`a.b` < 3",
                "metrics.a.b < 3",
                "metrics.`x: y/z` < 0.3",
                "params.`learning rate` = 'low'",
                "PARAMS.'learning rate' = 'low'",
                "tags.\"data set\" like 'low%'",
                "metrics.`val loss` < 0.3 and not tags.`data set` = 'high-v2'",
                "metrics.`val loss` is not null and metrics.`no such` is null",
            )
        }
        both = "metrics.`val loss` is not null and metrics.`no such` is null"
        assert found == {text: ["high", "low"] if text == both else ["low"] for text in found}
        ordered = workspace.runs("quoted", order_by='metrics."val loss" DESC')
        assert [names[run.run_id] for run in ordered] == ["high", "low"]
        with pytest.raises(ValidationError, match=r"position 9 .*key between the quotes"):
            workspace.runs(filter="metrics.`` < 1")

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("not " * 3000 + "metrics.auc > 0", r"12,015 characters long; the limit is 4,096"),
            (" or ".join(["metrics.auc > 0"] * 3000), r"56,996 characters long"),
            ("not " * 33 + "metrics.a>0", r"more than 32 deep \(at position 129\)"),
            ("(" * 33 + "metrics.a>0" + ")" * 33, r"more than 32 deep \(at position 33\)"),
            (" or ".join(["metrics.a>0"] * 257), r"more than 256 comparisons \(at position 3841\)"),
            ("x" * 100_000, r"100,000 characters long"),
        ],
    )
    def test_oversized_filters_are_refused_with_their_position(
        self, workspace: Workspace, text: str, message: str
    ) -> None:
        """Issue 11: no ``RecursionError``, no SQL error: a positioned ``ValidationError``."""
        with pytest.raises(ValidationError, match=message) as caught:
            workspace.runs(filter=text)
        assert "position" in caught.value.details and len(str(caught.value)) < 600

    def test_the_largest_allowed_filter_runs(self, workspace: Workspace) -> None:
        ids = _seed_runs(workspace)
        terms = " or ".join(["metrics.a>0"] * 255 + ["metrics.auc>0.94"])
        deepest = "not " * 16 + "(" * 16 + terms + ")" * 16
        assert len(deepest) <= 4096
        assert [run.run_id for run in workspace.runs(filter=deepest)] == [ids["a"]]

    def test_status_filters_know_every_status(self, workspace: Workspace) -> None:
        ids = _seed_runs(workspace)
        killed = workspace.start_run(experiment="search", name="k")
        killed.end(status="KILLED")
        assert [r.run_id for r in workspace.runs(filter="status = 'KILLED'")] == [killed.run_id]
        assert {r.run_id for r in workspace.runs(filter="status in ('FINISHED')")} == set(
            ids.values()
        )
        with pytest.raises(ValidationError, match=r"status with 'killed'; expected one of"):
            workspace.runs(filter="status = 'killed'")

    def test_bad_order_by_and_limit(self, workspace: Workspace) -> None:
        with pytest.raises(ValidationError, match=r"order_by 'metrics\.auc sideways'"):
            workspace.runs(order_by="metrics.auc sideways")
        with pytest.raises(ValidationError, match="limit -1"):
            workspace.runs(limit=-1)

    def test_datasets_are_fingerprinted(self, workspace: Workspace) -> None:
        frame = pd.DataFrame({"age": [31, 45, 27], "plan": ["a", "b", "a"]})
        with workspace.start_run() as first:
            fp = first.log_dataset(frame, role="train", name="customers")
        with workspace.start_run() as second:
            second.log_dataset(frame.copy(), role="train")
        stored = workspace.get_run(first.run_id).datasets
        assert stored == [
            {
                "role": "train",
                "name": "customers",
                "dataset_hash": fp.hash,
                "rows": 3,
                "columns": ["age", "plan"],
                "dtypes": list(fp.dtypes),
            }
        ]
        assert workspace.get_run(second.run_id).datasets[0]["dataset_hash"] == fp.hash

    def test_artifacts_round_trip_and_tampering(self, workspace: Workspace, tmp_path: Path) -> None:
        folder = tmp_path / "model"
        (folder / "sub").mkdir(parents=True)
        (folder / "weights.txt").write_text("w=1")
        (folder / "sub" / "card.md").write_text("# card")
        with workspace.start_run() as run:
            recorded = run.log_artifact(folder)
            run.log_text("hello", "notes/readme.txt")
        assert recorded == ["model/sub/card.md", "model/weights.txt"]
        stored = workspace.get_run(run.run_id)
        assert stored.read_artifact("model/weights.txt") == b"w=1"
        copied = stored.download_artifact("notes/readme.txt", tmp_path / "out" / "readme.txt")
        assert copied.read_text() == "hello"
        with pytest.raises(NotFound, match="no artifact 'nope'"):
            stored.read_artifact("nope")
        sha = next(a["sha256"] for a in stored.artifacts if a["path"] == "model/weights.txt")
        blob = Path(workspace.artifacts._blob_path(sha))
        blob.chmod(0o644)
        blob.write_text("w=2")  # same size, different content
        with pytest.raises(IntegrityError, match=r"model/weights\.txt.*was modified"):
            stored.read_artifact("model/weights.txt")
        blob.write_text("w")  # truncated
        with pytest.raises(IntegrityError, match="has 1 bytes, expected 3"):
            stored.download_artifact("model/weights.txt", tmp_path / "out" / "w.txt")
        assert not (tmp_path / "out" / "w.txt").exists()

    def test_experiments_listing(self, workspace: Workspace) -> None:
        _seed_runs(workspace)
        with workspace.start_run(experiment="other"):
            pass
        listed = {e["name"]: e["runs"] for e in workspace.experiments()}
        assert listed == {"search": 4, "other": 1}

    def test_many_metrics_in_batches(self, workspace: Workspace) -> None:
        with workspace.start_run() as run:
            for step in range(200):
                run.log_metrics({f"m{k}": step * 0.5 + k for k in range(25)}, step=step)
        stored = workspace.get_run(run.run_id)
        assert len(stored.metrics) == 25
        assert stored.metrics["m3"] == 199 * 0.5 + 3
        assert len(stored.metric_history("m24")) == 200

"""Batch scoring with a reject file (issue 5; one bad cell, line numbers, --keep: issue 12)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

import modelcycle as mc
from modelcycle.cli._context import state
from modelcycle.cli._output import REJECTED_EXIT_CODE
from modelcycle.cli._serve import score
from modelcycle.core import ValidationError
from modelcycle.serving import load_served, score_file
from tests.serving.conftest import churn_frame


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_score_streams_chunks_and_rejects_bad_rows(
    served: mc.Workspace, tmp_path: Path, suffix: str
) -> None:
    frame = pd.DataFrame(
        {"age": [60, 20, 61, 30, 70], "income": [1.0, 2.0, None, 4.0, 5.0],
         "plan": ["b", "b", "a", "zz", "c"]}
    )  # fmt: skip
    source = tmp_path / f"in{suffix}"
    frame.to_parquet(source) if suffix == ".parquet" else frame.to_csv(source, index=False)
    model = load_served(served.registry, "strict", max_rows=2)
    summary = score_file(model, source, tmp_path / "out.parquet", rejects=tmp_path / "bad.csv",
                         chunk_rows=2)  # fmt: skip
    assert (summary.scored, summary.rejected) == (3, 2)
    position = "row" if suffix == ".parquet" else "line"
    first = 0 if suffix == ".parquet" else 2  # a CSV's header is line 1
    scored = duckdb.sql(f"select {position}, prediction from '{tmp_path / 'out.parquet'}'")
    assert scored.fetchall() == [(first, 1), (first + 1, 0), (first + 4, 1)]
    rejects = pd.read_csv(tmp_path / "bad.csv")
    assert rejects[position].tolist() == [first + 2, first + 3]
    assert rejects["column"].tolist() == ["income", "plan"]
    assert "may not be null" in rejects["reason"][0] and "allowed values" in rejects["reason"][1]


def test_one_bad_cell_rejects_only_its_row_with_its_line(
    served: mc.Workspace, tmp_path: Path
) -> None:
    """Issue 12: "forty" in a number column used to turn the column into text and reject all."""
    lines = ["age,income,plan", *(f"{20 + i},{i}.5,b" for i in range(30))]
    lines[17] = "forty,3.5,b"  # line 18 of the file
    source = tmp_path / "in.csv"
    source.write_text("\n".join(lines) + "\n")
    model = load_served(served.registry, "strict", max_rows=100)
    summary = score_file(model, source, tmp_path / "out.csv", rejects=tmp_path / "bad.csv")
    assert (summary.scored, summary.rejected) == (29, 1)
    rejects = pd.read_csv(tmp_path / "bad.csv")
    assert rejects.loc[0, ["line", "column", "value"]].tolist() == [18, "age", "forty"]
    assert "not a number" in rejects.loc[0, "reason"]
    assert len(pd.read_csv(tmp_path / "out.csv")) == 29


def test_nothing_rejected_writes_no_reject_file(served: mc.Workspace, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    pd.DataFrame({"age": [60, 20], "income": [1.0, 2.0], "plan": ["b", "a"]}).to_csv(
        source, index=False
    )
    model = load_served(served.registry, "strict", max_rows=10)
    summary = score_file(model, source, tmp_path / "out.parquet", rejects=tmp_path / "bad.csv")
    assert summary.rejects is None and not (tmp_path / "bad.csv").exists()
    assert summary.output == tmp_path / "out.parquet"


def test_every_row_rejected_writes_no_output(served: mc.Workspace, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("age,income,plan\nold,1.0,b\n")
    model = load_served(served.registry, "strict", max_rows=10)
    summary = score_file(model, source, tmp_path / "out.parquet", rejects=tmp_path / "bad.csv")
    assert summary.output is None and not (tmp_path / "out.parquet").exists()
    assert not list(tmp_path.glob(".*partial"))


def test_a_missing_required_column_stops_before_anything_is_written(
    served: mc.Workspace, tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    pd.DataFrame({"age": [60], "plan": ["b"]}).to_csv(source, index=False)
    model = load_served(served.registry, "strict", max_rows=10)
    with pytest.raises(ValidationError, match="has no column 'income'"):
        score_file(model, source, tmp_path / "out.parquet", rejects=tmp_path / "bad.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def _cli(served: mc.Workspace) -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root(ctx: typer.Context) -> None:
        state(ctx)._opened = served

    app.command()(score)
    return app


def test_score_command(served: mc.Workspace, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    pd.DataFrame({"age": [60], "income": [1.0], "plan": ["b"]}).to_csv(source, index=False)
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(_cli(served), ["score", "churn", str(source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "scored 1 rows" in result.output and out.read_text().startswith('"line"')


def test_score_command_keeps_columns_and_exits_9_on_rejects(
    served: mc.Workspace, tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    source.write_text(
        "id,customer,age,income,plan\n007,ann,60,1.0,b\n008,bob,sixty,2.0,a\n009,cy,30,3.0,c\n"
    )
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(
        _cli(served), ["score", "strict", str(source), "-o", str(out), "--keep", "id,customer"]
    )
    assert result.exit_code == REJECTED_EXIT_CODE, result.output
    assert "scored 2 rows" in result.output and "1 rows rejected" in result.output
    written = pd.read_csv(out, dtype=str)
    assert written[["id", "customer", "line"]].values.tolist() == [
        ["007", "ann", "2"],
        ["009", "cy", "4"],
    ]
    assert pd.read_csv(tmp_path / "out.rejects.csv")["line"].tolist() == [3]


def test_score_command_refuses_an_unknown_keep_column(served: mc.Workspace, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    pd.DataFrame({"age": [60], "income": [1.0], "plan": ["b"]}).to_csv(source, index=False)
    result = CliRunner().invoke(
        _cli(served), ["score", "strict", str(source), "--keep", "customer_id"]
    )
    assert isinstance(result.exception, ValidationError)
    assert "--keep names column 'customer_id'" in str(result.exception)


def test_mixed_type_labels_are_written_as_text() -> None:
    import numpy as np

    from modelcycle.serving._batch import _prediction_column

    assert _prediction_column(np.array([1, 2])).to_pylist() == [1, 2]
    mixed = _prediction_column(np.array([1, "yes", None], dtype=object))
    assert mixed.to_pylist() == ["1", "yes", None]


# The column-wise path (a whole chunk read from Arrow, no row dicts) must accept exactly
# the chunks the row path accepts, with the same values: each case below is scored both
# ways and the outputs and reject files compared.
_TEXT_NUMBERS = [
    "20", "2e1", "20.", "+20", ".2e2", "20.0", "20.5", " 20", "1_0", "0x10", "١٢", "nan",
    "NAN", "inf", "-Infinity", "1e400", "1e-400", "9223372036854775808", "1e30", "", "forty",
]  # fmt: skip
_TYPED_AGES = [
    pa.array([30] * 40, pa.int64()),
    pa.array([30] * 39 + [None], pa.int64()),
    pa.array([30] * 40, pa.int8()),
    pa.array([30] * 39 + [2**64 - 1], pa.uint64()),
    pa.array([30.0] * 39 + [30.5], pa.float64()),
    pa.array([30.0] * 39 + [float("nan")], pa.float64()),
    pa.array([30.0] * 39 + [float("inf")], pa.float64()),
    pa.array([30.0] * 39 + [1e39], pa.float64()),
    pa.array([30.0] * 40, pa.float32()),
    pa.array([True] * 40, pa.bool_()),
    pa.array(["30"] * 40, pa.string()),
]


def _both_ways(
    model: Any, source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, ...]:
    """(scored, rejected, output rows, reject rows) by the column path, then the row path."""
    from modelcycle.serving import _batch

    found: list[Any] = []
    for column_path in (True, False):
        with monkeypatch.context() as patch:
            if not column_path:
                patch.setattr(_batch, "_batch_columns", lambda *_: None)
            out, bad = tmp_path / f"out-{column_path}.parquet", tmp_path / f"bad-{column_path}.csv"
            out.unlink(missing_ok=True)
            bad.unlink(missing_ok=True)
            summary = score_file(model, source, out, rejects=bad)
            found.append((
                summary.scored, summary.rejected,
                pq.read_table(out).to_pylist() if out.exists() else None,
                bad.read_text() if bad.exists() else None,
            ))  # fmt: skip
    return tuple(found)


@pytest.mark.parametrize("age", _TEXT_NUMBERS)
@pytest.mark.parametrize("name", ["strict", "churn"])
def test_csv_numbers_read_column_wise_as_the_row_path_reads_them(
    served: mc.Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, age: str
) -> None:
    lines = ["age,income,plan", *(f"{20 + i},{i}.25,b" for i in range(39))]
    lines.insert(7, f"{age},1.5,a")
    source = tmp_path / "in.csv"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    columns, rows = _both_ways(load_served(served.registry, name, max_rows=50_000), source,
                               tmp_path, monkeypatch)  # fmt: skip
    assert columns == rows


@pytest.mark.parametrize("ages", _TYPED_AGES, ids=lambda a: f"{a.type}-{a[-1]}")
@pytest.mark.parametrize("name", ["strict", "churn"])
def test_parquet_columns_read_column_wise_as_the_row_path_reads_them(
    served: mc.Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, ages: pa.Array
) -> None:
    plans = pa.array(["a", "b", None, "c"] * 10).dictionary_encode()
    table = pa.table({"age": ages, "income": pa.array([1.5] * 40, pa.float32()), "plan": plans})
    source = tmp_path / "in.parquet"
    pq.write_table(table, source)
    columns, rows = _both_ways(load_served(served.registry, name, max_rows=50_000), source,
                               tmp_path, monkeypatch)  # fmt: skip
    assert columns == rows


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_a_clean_chunk_is_read_column_wise(
    served: mc.Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    """A file without a bad cell never builds a row dict (the slow path is not taken)."""
    from modelcycle.serving import _batch

    frame = churn_frame(120, seed=3).drop(columns="churn")
    source = tmp_path / f"in{suffix}"
    frame.to_parquet(source) if suffix == ".parquet" else frame.to_csv(source, index=False)

    def refuse(*_: Any) -> None:
        raise AssertionError("a clean chunk went through the row path")

    monkeypatch.setattr(_batch, "_prepare", refuse)
    model = load_served(served.registry, "strict", max_rows=50)
    summary = score_file(model, source, tmp_path / "out.parquet", rejects=tmp_path / "bad.csv",
                         chunk_rows=50)  # fmt: skip
    assert (summary.scored, summary.rejected) == (120, 0)
    expected = model.predict(frame.to_dict("records")).predictions.tolist()
    assert pq.read_table(tmp_path / "out.parquet")["prediction"].to_pylist() == expected


@pytest.fixture(scope="module")
def dated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, pd.DataFrame]:
    """A model with a date-time input, and rows it scores."""
    rng = np.random.default_rng(0)
    when = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, 300), "D")
    frame = pd.DataFrame({"when": when, "x": rng.normal(size=300)})
    frame["y"] = ((frame.x + (frame.when.dt.month > 6)) > 0.5).astype(int)
    with mc.Workspace(tmp_path_factory.mktemp("dated") / "ws") as ws:
        ws.train(frame, target="y", name="dated", budget=6, learners=["lightgbm"])
        model = load_served(ws.registry, "dated/1", max_rows=1000)
    assert model.signature.inputs[0].type == "datetime"
    return model, frame.drop(columns="y").head(40)


@pytest.mark.parametrize(
    "kind", [pa.timestamp("ns"), pa.timestamp("us", tz="Europe/Paris"), pa.date32()], ids=str
)
def test_a_parquet_date_time_column_is_read_as_the_server_reads_its_text(
    dated: tuple[Any, pd.DataFrame], tmp_path: Path, kind: pa.DataType
) -> None:
    """Parquet keeps a date-time as a timestamp; it used to be rejected on every row."""
    model, rows = dated
    when = pa.array(rows["when"]).cast(kind).to_pylist()
    when[3] = None
    table = pa.table({"when": pa.array(when, kind), "x": rows["x"]})
    pq.write_table(table, tmp_path / "in.parquet")
    summary = score_file(model, tmp_path / "in.parquet", tmp_path / "out.parquet",
                         rejects=tmp_path / "bad.csv")  # fmt: skip
    assert (summary.scored, summary.rejected) == (40, 0)
    sent = [{"when": None if w is None else w.isoformat(), "x": x}
            for w, x in zip(when, rows["x"], strict=True)]  # fmt: skip
    expected = model.predict(sent).probabilities
    scored = pq.read_table(tmp_path / "out.parquet")
    assert scored["proba_1"].to_pylist() == pytest.approx(expected[:, 1].tolist(), abs=1e-12)


def test_a_date_past_year_9999_rejects_its_row(
    dated: tuple[Any, pd.DataFrame], tmp_path: Path
) -> None:
    """Arrow holds dates Python cannot (a crafted file): that row is refused, with a reason."""
    model, rows = dated
    when = pa.array([0, 2**50, 10**9], pa.timestamp("ms"))  # 2**50 ms: the year 37648
    pq.write_table(pa.table({"when": when, "x": rows["x"].head(3)}), tmp_path / "in.parquet")
    summary = score_file(model, tmp_path / "in.parquet", tmp_path / "out.parquet",
                         rejects=tmp_path / "bad.csv")  # fmt: skip
    assert (summary.scored, summary.rejected) == (2, 1)
    rejects = pd.read_csv(tmp_path / "bad.csv")
    assert rejects.loc[0, ["row", "column"]].tolist() == [1, "when"]
    assert "ISO 8601" in rejects.loc[0, "reason"]


def test_an_unreadable_file_is_a_clear_error_and_writes_nothing(
    served: mc.Workspace, tmp_path: Path
) -> None:
    model = load_served(served.registry, "strict", max_rows=100)
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"PAR1" + b"\x00" * 64 + b"PAR1")
    with pytest.raises(ValidationError, match=r"cannot read .*corrupt\.parquet.* as Parquet"):
        score_file(model, corrupt, tmp_path / "out.parquet", rejects=tmp_path / "bad.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corrupt.parquet"]


@pytest.mark.parametrize("plan", ["b", "zz"], ids=["clean", "a bad row"])
def test_a_kept_date_past_year_9999_is_kept_as_it_is(
    served: mc.Workspace, tmp_path: Path, plan: str
) -> None:
    """A --keep column is copied from the file; with a bad row in the chunk, the row path
    reads every value in Python, and one it cannot hold is shown as text in the reject."""
    model = load_served(served.registry, "strict", max_rows=100)
    kept = tmp_path / "kept.parquet"
    pq.write_table(pa.table({"age": [30, 40], "income": [1.0, 2.0], "plan": ["a", plan],
                             "t": pa.array([0, 2**50], pa.timestamp("ms"))}), kept)  # fmt: skip
    summary = score_file(model, kept, tmp_path / "out.parquet", rejects=tmp_path / "bad.csv",
                         keep=["t"])  # fmt: skip
    bad = plan == "zz"
    assert (summary.scored, summary.rejected) == (2 - bad, int(bad))
    times = pq.read_table(tmp_path / "out.parquet")["t"].cast(pa.int64()).to_pylist()
    assert times == ([0] if bad else [0, 2**50])
    if bad:
        assert "out of range" in pd.read_csv(tmp_path / "bad.csv").loc[0, "values"]

"""Batch scoring with a reject file (issue 5; one bad cell, line numbers, --keep: issue 12)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

import modelcycle as mc
from modelcycle.cli._context import state
from modelcycle.cli._output import REJECTED_EXIT_CODE
from modelcycle.cli._serve import score
from modelcycle.core import ValidationError
from modelcycle.serving import load_served, score_file


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

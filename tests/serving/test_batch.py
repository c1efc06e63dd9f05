"""Batch scoring with a reject file (issue 5)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

import modelcycle as mc
from modelcycle.cli._context import state
from modelcycle.cli._serve import score
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
    scored = duckdb.sql(f"select row, prediction from '{tmp_path / 'out.parquet'}'").fetchall()
    assert scored == [(0, 1), (1, 0), (4, 1)]
    rejects = pd.read_csv(tmp_path / "bad.csv")
    assert rejects["row"].tolist() == [2, 3]
    assert "income" in rejects["reason"][0] and "allowed values" in rejects["reason"][1]


def test_score_command(served: mc.Workspace, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    pd.DataFrame({"age": [60], "income": [1.0], "plan": ["b"]}).to_csv(source, index=False)
    app = typer.Typer()

    @app.callback()
    def root(ctx: typer.Context) -> None:
        state(ctx)._opened = served

    app.command()(score)
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(app, ["score", "churn", str(source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "scored 1 rows" in result.output and out.read_text().startswith('"row"')

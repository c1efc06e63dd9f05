"""Reading CSV, Parquet and SQL sources, whole and in batches, and the errors they raise."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from modelcycle.core import ValidationError
from modelcycle.data import iter_batches, read_table


@pytest.fixture
def table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "n": np.arange(10, dtype=np.int64),
            "x": [1.5, None] * 5,
            "s": ["a", None, "b", "c", "d"] * 2,
            "day": pd.date_range("2024-01-01", periods=10, freq="D").strftime("%Y-%m-%d"),
        }
    )


def _write_csv(table: pd.DataFrame, path: Path, sep: str = ",") -> Path:
    table.to_csv(path, index=False, sep=sep)
    return path


def test_csv_is_read_with_typed_columns(tmp_path: Path, table: pd.DataFrame) -> None:
    frame = read_table(_write_csv(table, tmp_path / "t.csv"))

    assert frame["n"].dtype == np.int64
    assert frame["x"].isna().sum() == 5
    assert frame["s"].isna().sum() == 2
    assert str(frame["day"].dtype).startswith("datetime64")
    assert frame["day"].iloc[-1] == pd.Timestamp("2024-01-10")


@pytest.mark.parametrize(("name", "sep"), [("t.tsv", "\t"), ("t.csv.gz", ","), ("T.CSV", ",")])
def test_tsv_compressed_and_upper_case_csv(
    tmp_path: Path, table: pd.DataFrame, name: str, sep: str
) -> None:
    frame = read_table(_write_csv(table, tmp_path / name, sep=sep))

    assert frame["n"].tolist() == list(range(10))
    assert frame.columns.tolist() == ["n", "x", "s", "day"]


def test_parquet_file_and_folder(tmp_path: Path, table: pd.DataFrame) -> None:
    table.to_parquet(tmp_path / "t.parquet", index=False)
    folder = tmp_path / "parts"
    folder.mkdir()
    table.iloc[:4].to_parquet(folder / "a.parquet", index=False)
    table.iloc[4:].to_parquet(folder / "b.parquet", index=False)

    pd.testing.assert_frame_equal(read_table(tmp_path / "t.parquet"), table)
    assert read_table(folder)["n"].tolist() == list(range(10))


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_batches_concatenate_to_the_whole_read(
    tmp_path: Path, table: pd.DataFrame, suffix: str
) -> None:
    path = tmp_path / f"t{suffix}"
    if suffix == ".csv":
        _write_csv(table, path)
    else:
        table.to_parquet(path, index=False)

    batches = list(iter_batches(path, batch_rows=3))

    assert [len(b) for b in batches] == [3, 3, 3, 1]
    assert [b.index[0] for b in batches] == [0, 3, 6, 9]
    pd.testing.assert_frame_equal(pd.concat(batches), read_table(path))


def test_parquet_batches_regroup_row_groups(tmp_path: Path) -> None:
    path = tmp_path / "groups.parquet"
    pd.DataFrame({"a": np.arange(1000)}).to_parquet(path, row_group_size=97)

    sizes = [len(b) for b in iter_batches(path, batch_rows=250)]

    assert sizes == [250, 250, 250, 250]


def test_chunksize_returns_an_iterator_of_frames(tmp_path: Path, table: pd.DataFrame) -> None:
    chunks = read_table(_write_csv(table, tmp_path / "t.csv"), chunksize=4)

    assert [len(c) for c in chunks] == [4, 4, 2]


def _csv_with_late_word(path: Path) -> Path:
    """A CSV whose first column is integers for ~1.5 MB, then holds a word."""
    numbers = pd.DataFrame({"a": np.arange(150_000), "b": np.arange(150_000) * 0.5})
    numbers.to_csv(path, index=False)
    with path.open("a") as handle:
        handle.write("oops,1.0\n")
    return path


def test_whole_read_widens_a_type_that_changes_late(tmp_path: Path) -> None:
    frame = read_table(_csv_with_late_word(tmp_path / "late.csv"))

    assert len(frame) == 150_001
    assert frame["a"].iloc[-1] == "oops"


def test_batched_read_names_file_and_row_when_a_type_changes_late(tmp_path: Path) -> None:
    path = _csv_with_late_word(tmp_path / "late.csv")

    with pytest.raises(ValidationError, match=r"late\.csv' could not be read past row \d+"):
        list(iter_batches(path, batch_rows=10_000))


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"file '.*nope\.csv' does not exist"):
        read_table(tmp_path / "nope.csv")


def test_missing_file_is_reported_before_the_first_batch(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="does not exist"):
        iter_batches(tmp_path / "nope.parquet")


def test_unknown_extension_names_file_and_expected_formats(tmp_path: Path) -> None:
    path = tmp_path / "sheet.xlsx"
    path.write_bytes(b"PK")

    with pytest.raises(ValidationError, match=r"sheet\.xlsx' has an unknown extension '\.xlsx'"):
        read_table(path)


def test_ragged_csv_names_file_and_problem(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("a,b\n1,2\n3,4,5\n")

    with pytest.raises(ValidationError) as caught:
        read_table(path)

    assert "ragged.csv' could not be read as CSV" in str(caught.value)
    assert "Expected 2 columns, got 3" in str(caught.value)
    assert caught.value.details["file"] == str(path)


def test_empty_csv_says_the_file_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")

    with pytest.raises(ValidationError, match=r"empty\.csv' could not be read as CSV: the file is"):
        read_table(path)


@pytest.mark.parametrize("batched", [False, True])
def test_corrupt_parquet_names_the_file(tmp_path: Path, batched: bool) -> None:
    path = tmp_path / "broken.parquet"
    path.write_text("not parquet at all")

    with pytest.raises(ValidationError, match=r"broken\.parquet' could not be read as Parquet"):
        list(iter_batches(path)) if batched else read_table(path)


def test_duplicated_header_names_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("a,b,a\n1,2,3\n")

    with pytest.raises(ValidationError, match=r"dup\.csv' has duplicated column names \['a'\]"):
        read_table(path)


@pytest.mark.parametrize("rows", [0, -3, 2.5, True])
def test_batch_rows_must_be_a_positive_integer(tmp_path: Path, rows: object) -> None:
    with pytest.raises(ValidationError, match="batch_rows is"):
        iter_batches(tmp_path / "t.csv", batch_rows=rows)  # type: ignore[arg-type]


def test_no_source_and_no_sql_is_refused() -> None:
    with pytest.raises(ValidationError, match="no source given"):
        read_table(None)


@pytest.fixture
def sqlite_file(tmp_path: Path, table: pd.DataFrame) -> Path:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as connection:
        table.to_sql("orders", connection, index=False)
    connection.close()
    return path


def test_sqlalchemy_url_query(sqlite_file: Path) -> None:
    frame = read_table(f"sqlite:///{sqlite_file}", sql="select n, s from orders where n >= 7")

    assert frame["n"].tolist() == [7, 8, 9]
    assert frame.columns.tolist() == ["n", "s"]


def test_sqlite_file_path_query_and_batches(sqlite_file: Path) -> None:
    total = read_table(sqlite_file, sql="select count(*) as rows from orders")
    batches = list(iter_batches(sqlite_file, sql="select n from orders", batch_rows=4))

    assert total["rows"].item() == 10
    assert [b.index.tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_missing_sqlite_database_is_not_created(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'absent.db'}"

    with pytest.raises(ValidationError, match=r"database file '.*absent\.db' .* does not exist"):
        read_table(url, sql="select 1")
    assert not (tmp_path / "absent.db").exists()


def test_failing_query_names_query_and_database(sqlite_file: Path) -> None:
    with pytest.raises(ValidationError) as caught:
        read_table(f"sqlite:///{sqlite_file}", sql="select * from refunds")

    message = str(caught.value)
    assert "'select * from refunds' failed on database" in message
    assert "shop.db" in message
    assert "no such table: refunds" in message


def test_failing_query_in_batches_is_a_validation_error(sqlite_file: Path) -> None:
    with pytest.raises(ValidationError, match="no such table: refunds"):
        list(iter_batches(f"sqlite:///{sqlite_file}", sql="select * from refunds"))


def test_password_never_appears_in_messages() -> None:
    url = "postgresql://analyst:hunter2@127.0.0.1:1/warehouse"

    with pytest.raises(ValidationError) as caught:
        read_table(url, sql="select 1")

    assert "hunter2" not in str(caught.value)
    assert "analyst:***@127.0.0.1" in str(caught.value)


def test_unknown_database_dialect_names_the_url() -> None:
    with pytest.raises(ValidationError, match="database URL 'nosuchdb://x' cannot be used"):
        read_table("nosuchdb://x", sql="select 1")


def test_duckdb_queries_files_named_in_the_query(tmp_path: Path, table: pd.DataFrame) -> None:
    table.to_parquet(tmp_path / "t.parquet", index=False)
    _write_csv(table, tmp_path / "t.csv")
    query = (
        f"select p.n, c.s from '{tmp_path / 't.parquet'}' p "
        f"join '{tmp_path / 't.csv'}' c using (n) where p.n < 3 order by p.n"
    )

    frame = read_table(None, sql=query)

    assert frame["n"].tolist() == [0, 1, 2]
    assert frame["s"].iloc[0] == "a"


def test_duckdb_file_query_and_batches(tmp_path: Path, table: pd.DataFrame) -> None:
    path = tmp_path / "store.duckdb"
    connection = duckdb.connect(str(path))
    connection.register("frame", table)
    connection.execute("create table orders as select * from frame")
    connection.close()

    frame = read_table(path, sql="select sum(n) as total from orders")
    batches = list(iter_batches(path, sql="select n from orders", batch_rows=6))

    assert int(frame["total"].item()) == 45
    assert [len(b) for b in batches] == [6, 4]


@pytest.mark.parametrize(
    ("source", "sql", "expected"),
    [
        (None, "select * from 'absent.parquet'", r"failed on DuckDB \(in memory\).*absent"),
        (None, "selec 1", "'selec 1' failed on DuckDB"),
        ("absent.duckdb", "select 1", "database file 'absent.duckdb' does not exist"),
        ("data.csv", "select 1", "source 'data.csv' is not a database for sql="),
        (None, "   ", "sql is '   '; expected a non-empty query"),
    ],
)
def test_bad_sql_sources_and_queries(source: str | None, sql: str, expected: str) -> None:
    with pytest.raises(ValidationError, match=expected):
        read_table(source, sql=sql)

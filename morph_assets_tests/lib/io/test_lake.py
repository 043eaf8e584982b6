"""Tests of the Parquet lake: paths, atomic writes, compaction and the errors table."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from morph_assets.lib.io import ERRORS_SCHEMA, PART_FILE, Lake, atomic_write, atomic_write_parquet
from morph_assets.lib.plates import NamingError


def _frame(well: str, n: int, offset: int = 0) -> pl.DataFrame:
    return pl.DataFrame({"Metadata_Well": [well] * n, "value": [float(offset + i) for i in range(n)]})


def test_paths(lake_root):
    lake = Lake(str(lake_root))
    assert lake.root == lake_root
    assert lake.well_file("raw_images", "P1", "a1") == lake_root / "wells/raw_images/plate=P1/well=A01" / PART_FILE
    assert lake.plate_file("raw_images", "P1") == lake_root / "raw_images/plate=P1/part-0.parquet"
    assert lake.errors_file("raw_images", "P1") == lake_root / "errors/raw_images/plate=P1/part-0.parquet"
    assert lake.table_glob("raw_images") == str(lake_root / "raw_images/plate=*/part-0.parquet")
    assert lake.duckdb_path == lake_root / "lake.duckdb"


@pytest.mark.parametrize("plate", ["PL|9", "..", "a/b", "bad plate"])
def test_invalid_plate_rejected(lake_root, plate):
    lake = Lake(lake_root)
    for call in (
        lambda: lake.well_file("t", plate, "A01"),
        lambda: lake.plate_file("t", plate),
        lambda: lake.errors_file("t", plate),
        lambda: lake.wells_present("t", plate),
    ):
        with pytest.raises(NamingError, match="not allowed"):
            call()


@pytest.mark.parametrize("well", ["Q01", "A25", "../A01"])
def test_invalid_well_rejected(lake_root, well):
    with pytest.raises(NamingError, match="384-well plate"):
        Lake(lake_root).well_file("t", "P1", well)


def test_atomic_write_round_trip(tmp_path):
    frame = _frame("A01", 5)
    path = atomic_write_parquet(frame, tmp_path / "deep" / "er" / "x.parquet")
    assert path == tmp_path / "deep/er/x.parquet"
    assert_frame_equal(pl.read_parquet(path), frame)
    assert sorted(p.name for p in path.parent.iterdir()) == ["x.parquet"]


def test_atomic_write_failure_keeps_previous(tmp_path, monkeypatch):
    path = atomic_write_parquet(_frame("A01", 5), tmp_path / "x.parquet")
    before = path.read_bytes()

    def fail(self, file, *args, **kwargs):
        with open(file, "wb") as handle:  # a half-written temporary file, then a crash
            handle.write(b"PAR1 partial")
        raise OSError("disk full")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", fail)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_parquet(_frame("A01", 9, offset=100), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["x.parquet"]


def test_atomic_write_of_any_writer_appears_whole_or_not_at_all(tmp_path):
    target = tmp_path / "sub" / "model.bin"
    assert atomic_write(target, lambda temporary: temporary.write_bytes(b"v1")) == target
    assert target.read_bytes() == b"v1"

    def crash(temporary):
        temporary.write_bytes(b"half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        atomic_write(target, crash)
    assert target.read_bytes() == b"v1"
    assert [p.name for p in target.parent.iterdir()] == ["model.bin"]  # no temporary file left


def test_write_well_replaces(lake_root):
    lake = Lake(lake_root)
    lake.write_well("t", "P1", "A01", _frame("A01", 3))
    lake.write_well("t", "P1", "A01", _frame("A01", 2, offset=10))
    assert pl.read_parquet(lake.well_file("t", "P1", "A01"))["value"].to_list() == [10.0, 11.0]


def test_wells_and_plates_present(lake_root):
    lake = Lake(lake_root)
    assert lake.wells_present("t", "P1") == []
    assert lake.plates_present("t") == []
    for well in ("B01", "A02", "A01"):
        lake.write_well("t", "P1", well, _frame(well, 2))
    lake.write_well("t", "P2", "C03", _frame("C03", 1))
    (lake_root / "wells/t/plate=P1/well=A03").mkdir()  # a folder without a file is not a well
    (lake_root / "wells/t/plate=P1/stray").mkdir()
    assert lake.wells_present("t", "P1") == ["A01", "A02", "B01"]
    assert lake.wells_present("t", "P2") == ["C03"]
    assert lake.wells_present("other", "P1") == []
    assert lake.plates_present("t") == []  # nothing compacted yet
    lake.compact_plate("t", "P2")
    lake.compact_plate("t", "P1")
    (lake_root / "t/plate=P3").mkdir()
    assert lake.plates_present("t") == ["P1", "P2"]


def test_compaction_concatenates_and_equals_direct_write(lake_root, tmp_path):
    lake = Lake(lake_root)
    frames = {well: _frame(well, n, offset=10 * n) for well, n in (("A02", 3), ("A01", 2), ("B01", 4))}
    for well, frame in frames.items():
        lake.write_well("t", "P1", well, frame)
    path, rows = lake.compact_plate("t", "P1")
    assert path == lake.plate_file("t", "P1")
    assert rows == 9
    expected = pl.concat([frames["A01"], frames["A02"], frames["B01"]])
    compacted = pl.read_parquet(path)
    assert_frame_equal(compacted, expected)
    direct = atomic_write_parquet(expected, tmp_path / "direct.parquet")
    assert_frame_equal(pl.read_parquet(direct), compacted)
    # Re-running one well and compacting again replaces only that well's rows.
    lake.write_well("t", "P1", "A02", _frame("A02", 1, offset=99))
    _, rows = lake.compact_plate("t", "P1")
    assert rows == 7
    assert pl.read_parquet(path).filter(pl.col("Metadata_Well") == "A02")["value"].to_list() == [99.0]


def test_compaction_unions_columns(lake_root):
    lake = Lake(lake_root)
    lake.write_well("t", "P1", "A01", pl.DataFrame({"Metadata_Well": ["A01"], "a": [1]}))
    lake.write_well("t", "P1", "A02", pl.DataFrame({"Metadata_Well": ["A02"], "b": ["x"], "a": [2]}))
    _, rows = lake.compact_plate("t", "P1")
    assert rows == 2
    compacted = pl.read_parquet(lake.plate_file("t", "P1")).sort("Metadata_Well")
    assert set(compacted.columns) == {"Metadata_Well", "a", "b"}
    assert compacted.select("Metadata_Well", "a", "b").rows() == [("A01", 1, None), ("A02", 2, "x")]


def test_compaction_without_wells(lake_root):
    with pytest.raises(FileNotFoundError, match="no well files of table 't' for plate 'P1'"):
        Lake(lake_root).compact_plate("t", "P1")


def test_errors_file_replaced(lake_root):
    lake = Lake(lake_root)
    first = [
        {"table": "t", "Metadata_Plate": "P1", "Metadata_Well": "A01", "file": "/x/a.tiff", "error": "bad"},
        {"table": "t", "Metadata_Plate": "P1", "Metadata_Well": None, "file": "/x/b.tiff", "error": "name"},
    ]
    frame = lake.write_errors("t", "P1", first)
    assert dict(frame.schema) == ERRORS_SCHEMA
    assert pl.read_parquet(lake.errors_file("t", "P1")).to_dicts() == first
    lake.write_errors("t", "P1", [first[1]])
    assert pl.read_parquet(lake.errors_file("t", "P1")).to_dicts() == [first[1]]
    empty = lake.write_errors("t", "P1", [])
    stored = pl.read_parquet(lake.errors_file("t", "P1"))
    assert stored.height == 0 and empty.height == 0
    assert dict(stored.schema) == ERRORS_SCHEMA
    assert lake.plates_present("errors/t") == ["P1"]


def test_errors_of_every_table_read_together_each_reason_on_one_line(lake_root):
    import duckdb

    lake = Lake(lake_root)
    assert not lake.has_table("errors") and lake.read_errors().is_empty()
    lake.write_errors("raw_images", "P1", [
        {"table": "raw_images", "Metadata_Plate": "P1", "Metadata_Well": "A01", "file": "/x/a.tiff", "error": "bad"}])
    lake.write_errors("masks", "P1", [
        {"table": "masks", "Metadata_Plate": "P1", "Metadata_Well": "B02", "file": "",
         "error": "ValueError: one\n  two\tthree "}])
    lake.write_errors("masks", "P2", [])
    lake.write_errors("cellprofiler_mean", "P2", [
        {"table": "cellprofiler_mean", "Metadata_Plate": "P2", "Metadata_Well": "C03", "file": "", "error": "x"}])

    assert lake.has_table("errors")
    p1 = lake.read_errors("P1")
    assert dict(p1.schema) == ERRORS_SCHEMA
    assert sorted(p1.select("table", "Metadata_Well", "error").iter_rows()) == [
        ("masks", "B02", "ValueError: one two three"), ("raw_images", "A01", "bad")]
    assert sorted(lake.read_errors()["Metadata_Well"].to_list()) == ["A01", "B02", "C03"]
    # What the errors SQL view reads: every plate file of every errors/<table>.
    sql = f"select count(*) from read_parquet('{lake.table_glob('errors')}', union_by_name = true)"
    rows = duckdb.sql(sql).fetchall()
    assert rows == [(3,)]

"""``morph-assets sql`` and the summary's counts: a missing lake, wells counted once, whole values in each format."""

from pathlib import Path

import polars as pl
import pytest

from morph_assets.cli import main, plate_counts
from morph_assets.lib.io import Lake


def test_sql_without_a_lake_says_what_to_run(isolated_platform: Path):
    with pytest.raises(SystemExit, match="make demo"):
        main(["sql", "select 1"])


def test_the_summary_counts_a_well_once_whatever_stages_it_failed(isolated_platform: Path):
    lake = Lake(isolated_platform / "lake")
    lake.write_plate("raw_images", "P1", pl.DataFrame({"Metadata_Well": ["A01", "A01", "A02", "B02"]}))
    record = {"Metadata_Plate": "P1", "file": ""}
    lake.write_errors("raw_images", "P1", [
        {**record, "table": "raw_images", "Metadata_Well": "A03", "error": "bad file"},
        {**record, "table": "raw_images", "Metadata_Well": None, "error": "stray"}])
    lake.write_errors("masks", "P1", [{**record, "table": "masks", "Metadata_Well": "A03", "error": "no raw_images"}])
    lake.write_errors("cellprofiler_mean", "P1", [
        {**record, "table": "cellprofiler_mean", "Metadata_Well": well, "error": "texture"} for well in ("A03", "B02")])
    lake.write_errors("image_tensors", "P1", [])
    # By hand: A03 (three stages) and B02 failed; the stray file is no well; P2 was never ingested.
    assert plate_counts(["P1", "P2"]).to_dicts() == [
        {"Metadata_Plate": "P1", "wells_ingested": 3, "images": 4, "wells_failed": 2,
         "failed_stages": "cellprofiler_mean, masks, raw_images"},
        {"Metadata_Plate": "P2", "wells_ingested": 0, "images": 0, "wells_failed": 0, "failed_stages": ""},
    ]


def _lake_with_long_values(isolated_platform: Path) -> Path:
    """A lake database holding what the terminal used to cut: long names, '|' lists, commas, nulls."""
    import duckdb

    database = isolated_platform / "lake" / "lake.duckdb"
    database.parent.mkdir(parents=True)
    with duckdb.connect(str(database)) as connection:
        connection.sql("create table features as select * from (values "
                       f"('{'Cells_Texture_InfoMeas1_AGP_3_02_256_' + 'x' * 100}', 'EGFR|ERBB2|ERBB4', 0.123456789012345, 3),"
                       "('Nuclei_AreaShape_Area', null, -1.5e-20, null),"
                       "('QC: saturated, out of focus', 'HTR2A', 2.0, 7)"
                       ") as t(feature, target_list, value, n)")
    return database


@pytest.mark.parametrize("fmt", ["table", "csv", "markdown", "json"])
def test_sql_prints_whole_values_in_each_format(isolated_platform: Path, capsys, fmt: str):
    import csv
    import io
    import json

    import duckdb

    from morph_assets_tests.lib.report.test_markdown import parse_table

    database = _lake_with_long_values(isolated_platform)
    query = "select feature, target_list, value, n from features order by feature"
    with duckdb.connect(str(database), read_only=True) as connection:
        expected = connection.sql(query).fetchall()
    assert main(["sql", query, "--format", fmt]) == 0
    out = capsys.readouterr().out
    assert "shape:" not in out and "str" not in out.split("\n")[1]  # no polars shape or dtype rows
    if fmt == "csv":
        header, *rows = list(csv.reader(io.StringIO(out)))
        assert header == ["feature", "target_list", "value", "n"]
        assert [(f, t or None, float(v), int(n) if n else None) for f, t, v, n in rows] == expected
    elif fmt == "json":
        assert [tuple(row.values()) for row in json.loads(out)] == expected
    elif fmt == "markdown":
        header, rows = parse_table(out)
        assert header == ["feature", "target_list", "value", "n"] and all(len(row) == 4 for row in rows)
        assert [(f, t or None, float(v), int(n) if n else None) for f, t, v, n in rows] == expected
    else:
        lines = out.splitlines()
        assert lines[0].split() == ["feature", "target_list", "value", "n"]
        for line, (feature, targets, value, n) in zip(lines[2:], expected, strict=True):
            assert line.startswith(feature) and (targets or "null") in line and repr(value) in line

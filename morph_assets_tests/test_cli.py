"""The README's first command, end to end on a tiny plate set, and the SQL command."""

from pathlib import Path

import polars as pl
import pytest
from morph_assets_tests.example_human_plate import BARCODE, build_plate

from morph_assets.cli import CLI_RUN_TAG, main, plate_counts
from morph_assets.defs.automation import NETWORK_ASSETS
from morph_assets.lib import tasks
from morph_assets.lib.features import CHANNEL_ORDER
from morph_assets.lib.io import Lake
from morph_assets.lib.plates import PlateError, read_plate_layout
from morph_assets.lib.tasks import load_tensors


@pytest.fixture()
def isolated_platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MORPH_ASSETS_LAKE_ROOT", str(tmp_path / "lake"))
    monkeypatch.delenv("MORPH_ASSETS_SOURCE_ROOT", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    return tmp_path


def test_demo_generates_ingests_and_summarises_then_sql_answers(isolated_platform: Path, capsys):
    arguments = ["--plates", "2", "--wells", "A01,A02,P24", "--sites", "1", "--image-size", "160", "--workers", "1"]
    assert main(["demo", *arguments]) == 0
    printed = capsys.readouterr().out
    assert "2 plates, 6 wells, 30 images ingested; 0 wells failed" in printed
    lake = isolated_platform / "lake"
    assert (lake / "source" / "SYNJT0002" / "ACQUISITION_COMPLETE").exists()
    assert (lake / "raw_images" / "plate=SYNJT0001" / "part-0.parquet").exists()
    # The runs went into the persistent instance, so the UI shows them afterwards.
    assert any((isolated_platform / "dagster_home").rglob("*.db"))
    # As the automation requests them: per plate one plate-level, one wells and one profiles run; one study.
    assert {label: len(runs) for label, runs in _runs_by_label(isolated_platform).items()} == {
        "plate-level": 2, "wells": 2, "profiles": 2, "study": 1}

    assert main(["sql", "select count(*) as n from raw_images"]) == 0
    assert "30" in capsys.readouterr().out

    # A second demo reuses the generated plates and the registered partitions.
    assert main(["demo", *arguments]) == 0
    assert "generating" not in capsys.readouterr().out


def test_sql_without_a_lake_says_what_to_run(isolated_platform: Path):
    with pytest.raises(SystemExit, match="make demo"):
        main(["sql", "select 1"])


def test_a_bad_barcode_or_query_ends_in_one_line(isolated_platform: Path):
    with pytest.raises(SystemExit) as caught:
        main(["ingest", "BR...01"])
    assert str(caught.value).startswith("morph-assets ingest: ") and "BR...01" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert main(["views"]) == 0  # an empty lake: every view skipped, the database exists
    with pytest.raises(SystemExit) as caught:
        main(["sql", "select * from no_such_view"])
    assert str(caught.value).startswith("morph-assets sql: ") and "no_such_view" in str(caught.value)
    assert "\n" not in str(caught.value)


# --- Real plates as users bring them (issue 9): failures in one line, counted; a real-image plate end to end.

FAILED = "FAILED "


@pytest.fixture()
def real_plate(isolated_platform: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The ExampleHuman plate (real uint8 images, README format) alone in the source root."""
    source = isolated_platform / "source"
    monkeypatch.setenv("MORPH_ASSETS_SOURCE_ROOT", str(source))
    return build_plate(source)


def _runs_by_label(isolated_platform: Path) -> dict[str, list]:
    """The command's runs by what they were for (its run tag: plate-level, wells, profiles, study, views)."""
    import dagster as dg

    runs: dict[str, list] = {}
    with dg.DagsterInstance.get() as instance:
        for run in instance.get_runs():
            runs.setdefault(run.tags[CLI_RUN_TAG], []).append(run)
    return runs


def test_a_broken_layout_stops_the_plate_in_one_line_and_exits_non_zero(real_plate: Path, isolated_platform: Path,
                                                                         capfd):
    platemap = real_plate / "platemap.tsv"
    platemap.write_text(platemap.read_text().replace("BRD-A22032524-074-09-9", "BRD-TYPO"))
    with pytest.raises(PlateError) as raised:  # the reason the CLI must relay, from the library itself
        read_plate_layout(real_plate)

    assert main(["ingest", BARCODE, "--workers", "1"]) == 1
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and "Stack Trace" not in out + err
    failures = [line for line in out.splitlines() if FAILED in line]
    # plate_layout and illumination_correction fail for the same reason: one line names both.
    assert len(failures) == 1, failures
    runs = _runs_by_label(isolated_platform)
    assert set(runs) == {"plate-level"}  # the automation requested nothing after it: no wells, profiles, study
    assert f"plate {BARCODE}: plate-level run" in failures[0]
    assert " ".join(str(raised.value).split()) in failures[0]
    assert runs["plate-level"][0].run_id in failures[0]
    assert "1 plates, 0 wells, 0 images ingested; 0 wells failed; 1 of 1 runs failed (plate-level of " in out
    assert not (isolated_platform / "lake" / "raw_images").exists()


def test_wells_failing_at_any_stage_are_counted_and_listed(real_plate: Path, isolated_platform: Path, capfd,
                                                           monkeypatch: pytest.MonkeyPatch):
    # A02 has a corrupt file (its ingestion fails); every other well then fails the CellProfiler
    # stage, as every well of a real 8-bit plate once did. The old summary said "0 wells failed".
    corrupt = real_plate / "Images" / "A02_s1_DNA.tif"
    corrupt.write_bytes(b"not a TIFF")

    def texture_crash(task: tasks.CellProfilerTask) -> int:
        raise ValueError("Images of type float must be between -1 and 1.")

    monkeypatch.setattr(tasks, "cellprofiler_well", texture_crash)  # --workers 1: wells run in this process
    assert main(["ingest", BARCODE, "--workers", "1"]) == 1
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and "Stack Trace" not in out + err
    failures = [line for line in out.splitlines() if FAILED in line]
    wells_run = _runs_by_label(isolated_platform)["wells"][0].run_id
    # Hand count: 8 wells in load_data.csv, A02 lost at ingestion, the other 7 at cellprofiler_mean.
    assert "1 plates, 7 wells, 28 images ingested; 8 wells failed; 1 of 2 runs failed (wells of " in out
    by_well = [line for line in failures if " well A02, raw_images: " in line]
    assert len(by_well) == 1 and str(corrupt) in by_well[0] and wells_run in by_well[0]
    grouped = [line for line in failures if "7 wells A01, A03, A04, B01, B02, B03, B04, cellprofiler_mean:" in line]
    assert len(grouped) == 1 and "ValueError: Images of type float must be between -1 and 1." in grouped[0]
    # One line per well: A02's later "no masks for this well yet" records do not come back.
    assert len([line for line in failures if "wells run," not in line]) == 2, failures
    run_line = [line for line in failures if "wells run, cellprofiler_mean:" in line]
    assert len(run_line) == 1 and "no well succeeded" in run_line[0]
    assert "first: well A01: ValueError: Images of type float must be between -1 and 1." in run_line[0]
    # No profiles (cellprofiler_mean is missing), so no study: the study follows a plate's profiles.
    runs = _runs_by_label(isolated_platform)
    assert {label: len(runs) for label, runs in runs.items()} == {"plate-level": 1, "wells": 1}
    assert not (isolated_platform / "lake" / "lake.duckdb").exists()

    # The same words in the lake's errors view (what the UI's run page and the errors table show).
    assert main(["sql", "select Metadata_Well, lake_table, error from errors where lake_table = 'cellprofiler_mean' "
                        "and Metadata_Well = 'B04'"]) == 0
    out, err = capfd.readouterr()
    assert "Images of type float must be between -1 and 1." in out
    # The views did not exist yet: `sql` built them first (the errors view among them) and said so.
    assert "built missing view(s) first: " in err and "errors" in err


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


def test_a_real_8bit_plate_in_the_readme_format_goes_through_every_stage(real_plate: Path, isolated_platform: Path,
                                                                          capfd):
    assert main(["ingest", BARCODE, "--workers", "1"]) == 0
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and "Stack Trace" not in out + err
    assert FAILED not in out
    # Hand count from load_data.csv: 8 wells x 2 sites x 2 stains.
    assert "1 plates, 8 wells, 32 images ingested; 0 wells failed; 0 of 4 runs failed" in out
    lake = isolated_platform / "lake"
    for table in ("raw_images", "masks", "regionprops_features", "cellprofiler_mean", "image_tensors",
                  "plate_layout", "illumination"):
        assert (lake / table / f"plate={BARCODE}" / "part-0.parquet").exists(), table
    assert (lake / "reports" / "study" / "report.md").read_text().strip()
    # The plate has two of the five Cell Painting stains: the others are blank planes of the tensors.
    tensors = load_tensors(pl.read_parquet(lake / "image_tensors" / f"plate={BARCODE}" / "part-0.parquet"))
    assert tensors.shape[:2] == (16, len(CHANNEL_ORDER) + 1)
    absent = [number for number, name in enumerate(CHANNEL_ORDER) if name not in ("DNA", "AGP")]
    assert not tensors[:, absent].any()
    assert all(tensors[:, CHANNEL_ORDER.index(name)].any() for name in ("DNA", "AGP"))
    # One run each, as the automation requested them (the views in the study run).
    assert {label: len(runs) for label, runs in _runs_by_label(isolated_platform).items()} == {
        "plate-level": 1, "wells": 1, "profiles": 1, "study": 1}


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

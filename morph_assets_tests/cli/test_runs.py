"""``morph-assets ingest`` on real plates: each plate's runs, failures in one line and counted, every stage."""

from pathlib import Path

import polars as pl
import pytest

from morph_assets.cli import main
from morph_assets.lib import tasks
from morph_assets.lib.features import CHANNEL_ORDER
from morph_assets.lib.plates import PlateError, read_plate_layout
from morph_assets.lib.tasks import load_tensors
from morph_assets_tests.cli.helpers import _runs_by_label
from morph_assets_tests.example_human_plate import BARCODE, build_plate

# --- Real plates as users bring them (issue 9): failures in one line, counted; a real-image plate end to end.

FAILED = "FAILED "


@pytest.fixture()
def real_plate(isolated_platform: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The ExampleHuman plate (real uint8 images, README format) alone in the source root."""
    source = isolated_platform / "source"
    monkeypatch.setenv("MORPH_ASSETS_SOURCE_ROOT", str(source))
    return build_plate(source)


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

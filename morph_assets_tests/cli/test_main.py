"""``morph-assets`` (``morph_assets/cli/__init__.py``): the README's first command end to end, one-line errors."""

import json
from pathlib import Path

import pytest

from morph_assets.cli import main
from morph_assets.lib.synthetic import SyntheticConfig
from morph_assets_tests.cli.helpers import _runs_by_label


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


def test_generate_without_options_makes_the_demo_plates(isolated_platform: Path, capsys):
    """The demo's plates are the generator's defaults: several sites per well, as the help says."""
    demo = SyntheticConfig()
    assert main(["generate", "--plates", "1", "--wells", "A01", "--workers", "1"]) == 0
    assert f"1 wells x {demo.sites_per_well} sites, {demo.image_size}x{demo.image_size} px" in capsys.readouterr().out
    plate = json.loads((isolated_platform / "lake" / "source" / "SYNJT0001" / "plate.json").read_text())
    assert (plate["generator"]["sites_per_well"], plate["generator"]["image_size"]) == (2, 136)
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "sites per well (default 2)" in shown and "image side in pixels (default 136)" in shown


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

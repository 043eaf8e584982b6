"""``morph-assets`` (``morph_assets/cli/__init__.py``): the README's first command end to end, one-line errors."""

from pathlib import Path

import pytest

from morph_assets.cli import main
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

"""The README's first command, end to end on a tiny plate set, and the SQL command."""

from pathlib import Path

import pytest

from morph_assets.cli import main


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

    assert main(["sql", "select count(*) as n from raw_images"]) == 0
    assert "30" in capsys.readouterr().out

    # A second demo reuses the generated plates and the registered partitions.
    assert main(["demo", *arguments]) == 0
    assert "generating" not in capsys.readouterr().out


def test_sql_without_a_lake_says_what_to_run(isolated_platform: Path):
    with pytest.raises(SystemExit, match="make demo"):
        main(["sql", "select 1"])

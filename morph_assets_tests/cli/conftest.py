"""The command's environment in a temporary folder: its lake, no source root, its own Dagster instance."""

from pathlib import Path

import pytest


@pytest.fixture()
def isolated_platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MORPH_ASSETS_LAKE_ROOT", str(tmp_path / "lake"))
    monkeypatch.delenv("MORPH_ASSETS_SOURCE_ROOT", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    return tmp_path

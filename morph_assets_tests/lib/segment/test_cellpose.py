"""Cellpose segmentation: offline model resolution (missing weights never reach cellpose), nuclei by Otsu."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from morph_assets.lib.segment import (
    CELL_MODEL_FILE,
    NUCLEI_MODEL_FILE,
    CellposeWeightsMissing,
    SegmentationSettings,
    segment_with_cellpose,
)


# --- missing weights: fast, never reaches cellpose ------------------------------------------


def test_missing_file_names_the_path_and_downloads_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_model"
    settings = SegmentationSettings(cellpose_model_path=str(missing))
    images = {"DNA": np.zeros((32, 32), np.float32), "RNA": np.zeros((32, 32), np.float32)}
    with pytest.raises(CellposeWeightsMissing) as caught:
        segment_with_cellpose(images, settings)
    message = str(caught.value)
    assert str(missing) in message
    assert "segmentation_model" in message and "CELLPOSE_LOCAL_MODELS_PATH" in message
    assert "never downloaded" in message
    assert isinstance(caught.value, FileNotFoundError)


def test_unconfigured_and_incomplete_directory_are_missing(tmp_path: Path) -> None:
    images = {"DNA": np.zeros((32, 32), np.float32), "RNA": np.zeros((32, 32), np.float32)}
    with pytest.raises(CellposeWeightsMissing, match="cellpose_model_path is None"):
        segment_with_cellpose(images, SegmentationSettings(cellpose_model_path=None))
    (tmp_path / NUCLEI_MODEL_FILE).write_bytes(b"")  # a nuclei model alone is not enough
    with pytest.raises(CellposeWeightsMissing) as caught:
        segment_with_cellpose(images, SegmentationSettings(cellpose_model_path=str(tmp_path)))
    assert str(tmp_path / CELL_MODEL_FILE) in str(caught.value)


def test_builtin_name_is_looked_up_locally_only(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CELLPOSE_LOCAL_MODELS_PATH", str(tmp_path))
    images = {"DNA": np.zeros((32, 32), np.float32), "RNA": np.zeros((32, 32), np.float32)}
    with pytest.raises(CellposeWeightsMissing) as caught:
        segment_with_cellpose(images, SegmentationSettings(cellpose_model_path="cyto3"))
    assert str(tmp_path / "cyto3") in str(caught.value)
    assert list(tmp_path.iterdir()) == []  # nothing fetched or created

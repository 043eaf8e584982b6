"""Tests of the raw_images table: one well measured and written into the lake."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import tifffile

from morph_assets.lib.io import Lake
from morph_assets.lib.plates import ImageReadError, format_image_name, power_log_log_slope, read_plate
from morph_assets.lib.schema import RAW_IMAGES
from morph_assets.lib.tasks import RAW_IMAGES_SCHEMA, IngestTask, ingest_well, measure_images

PLATE = "SYNJT0002"
WELL = "A03"


def test_ingest_well(pristine_source, lake_root):
    index = read_plate(pristine_source / PLATE)
    image_rows = index.well_images(WELL).to_dicts()
    assert len(image_rows) == 10
    rows = ingest_well(IngestTask(well=WELL, lake_root=str(lake_root), plate=PLATE, image_rows=image_rows))
    assert rows == 10
    path = Lake(lake_root).well_file(RAW_IMAGES, PLATE, WELL)
    written = pl.read_parquet(path)
    assert dict(written.schema) == RAW_IMAGES_SCHEMA
    index_columns = ["Metadata_Plate", "Metadata_Well", "Metadata_Site", "channel", "channel_name", "path"]
    assert written.select(index_columns).equals(index.well_images(WELL).select(index_columns))
    for record in written.iter_rows(named=True):
        pixels = tifffile.imread(record["path"])
        assert pixels.dtype == np.uint16
        fraction = pixels.astype(np.float64) / 65535.0  # the contract for uint16, by hand
        assert (record["height"], record["width"], record["dtype"]) == (*pixels.shape, str(pixels.dtype))
        assert record["mean_intensity"] == pytest.approx(fraction.mean(), rel=1e-12)
        assert record["std_intensity"] == pytest.approx(fraction.std(), rel=1e-12)
        assert record["min_intensity"] == pytest.approx(pixels.min() / 65535.0, rel=1e-15)
        assert record["max_intensity"] == pytest.approx(pixels.max() / 65535.0, rel=1e-15)
        assert record["saturated_fraction"] == np.count_nonzero(pixels == 65535) / pixels.size
        assert record["power_log_log_slope"] == pytest.approx(power_log_log_slope(pixels), rel=1e-12)
    # The channels differ from each other: the stats were not copied from one image.
    assert written["mean_intensity"].n_unique() == 10


def test_measure_images_empty():
    frame = measure_images([])
    assert frame.height == 0 and dict(frame.schema) == RAW_IMAGES_SCHEMA


def test_corrupt_image_keeps_previous_file(source_root, lake_root):
    folder = source_root / PLATE
    image_rows = read_plate(folder).well_images(WELL).to_dicts()
    assert ingest_well(IngestTask(well=WELL, lake_root=str(lake_root), plate=PLATE, image_rows=image_rows)) == 10
    path = Lake(lake_root).well_file(RAW_IMAGES, PLATE, WELL)
    before = path.read_bytes()

    corrupt = folder / "Images" / format_image_name(WELL, 2, 3)
    data = corrupt.read_bytes()
    corrupt.write_bytes(data[: len(data) // 4])
    with pytest.raises(ImageReadError) as caught:
        ingest_well(IngestTask(well=WELL, lake_root=str(lake_root), plate=PLATE, image_rows=image_rows))
    assert caught.value.path == str(corrupt)
    assert str(corrupt) in str(caught.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_float_file_with_the_counts_of_a_uint16_file_measures_the_same(tmp_path):
    """Same counts as uint16 and as float32: same row (saturated fraction was 0.0 vs 1.0)."""
    rng = np.random.default_rng(5)
    counts = rng.integers(100, 60000, size=(64, 64)).astype(np.uint16)
    counts[:8, :8] = 65535  # 64 of 4096 pixels saturated
    rows = []
    for dtype in (np.uint16, np.float32):
        path = tmp_path / f"{np.dtype(dtype).name}.tiff"
        tifffile.imwrite(path, counts.astype(dtype))
        rows.append({"Metadata_Plate": "P", "Metadata_Well": "A01", "Metadata_Site": 1, "channel": 5,
                     "channel_name": "DNA", "path": str(path)})
    frame = measure_images(rows)
    assert frame["dtype"].to_list() == ["uint16", "float32"]
    assert frame["saturated_fraction"].to_list() == [64 / 4096, 64 / 4096]
    for column in ("mean_intensity", "std_intensity", "min_intensity", "max_intensity"):
        expected = getattr(counts.astype(np.float64) / 65535.0, column.split("_")[0])()
        assert frame[column].to_list() == pytest.approx([expected, expected], rel=1e-12), column


def test_unmappable_image_names_the_file(tmp_path):
    path = tmp_path / "negative.tiff"
    tifffile.imwrite(path, np.full((16, 16), -0.5, np.float32))
    row = {"Metadata_Plate": "P", "Metadata_Well": "A01", "Metadata_Site": 1, "channel": 5, "channel_name": "DNA",
           "path": str(path)}
    with pytest.raises(ImageReadError) as caught:
        measure_images([row])
    assert caught.value.path == str(path) and "negative value -0.5" in str(caught.value)

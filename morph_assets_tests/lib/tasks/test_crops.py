"""One well's single-cell crops in the lake: a crop per cell, joined to its regionprops row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import tifffile
from morph_assets_tests.example_human_plate import BARCODE, build_plate

from morph_assets.lib.features import CHANNEL_ORDER, load_well_crops
from morph_assets.lib.io import Lake
from morph_assets.lib.plates import read_plate
from morph_assets.lib.schema import PLATE, REGIONPROPS_FEATURES, SINGLE_CELL_CROPS, SITE, WELL
from morph_assets.lib.segment import SegmentationSettings
from morph_assets.lib.synthetic import SyntheticConfig, generate_plates
from morph_assets.lib.tasks import (
    CROPS_INDEX_SCHEMA,
    CropTask,
    RegionpropsTask,
    SegmentTask,
    crop_well,
    load_crops,
    mask_path,
    measure_well_regionprops,
    resize_crops,
    segment_well,
)

KEYS = [PLATE, WELL, SITE, "ObjectNumber"]
SETTINGS = SegmentationSettings(nucleus_diameter_range=(8.0, 40.0))


def _segmented_plate(folder: Path, lake: Lake, wells: list[str]):
    """Segment and measure ``wells`` of the plate folder into ``lake`` with the lib tasks; the plate index."""
    index = read_plate(folder)
    for well in wells:
        common = dict(well=well, lake_root=str(lake.root), plate=index.barcode,
                      image_rows=index.well_images(well).to_dicts(), illumination_files={})
        segment_well(SegmentTask(**common, method="classical", settings=SETTINGS))
        measure_well_regionprops(RegionpropsTask(**common))
    return index


def _crop(index, lake: Lake, well: str, **sizes) -> int:
    return crop_well(CropTask(well=well, lake_root=str(lake.root), plate=index.barcode,
                              image_rows=index.well_images(well).to_dicts(), illumination_files={}, **sizes))


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory):
    """One generated plate, wells A01 and A02 (two 160 px sites each) segmented and measured; (index, lake)."""
    root = tmp_path_factory.mktemp("crops")
    generate_plates(SyntheticConfig(n_plates=1, wells=("A01", "A02"), sites_per_well=2, image_size=160, seed=5),
                    root / "source")
    lake = Lake(root / "lake")
    index = _segmented_plate(next((root / "source").iterdir()), lake, ["A01", "A02"])
    return index, lake


def test_one_crop_per_cell_joining_its_regionprops_row(synthetic):
    index, lake = synthetic
    assert _crop(index, lake, "A01", box_size=48, view_size=32) > 0
    crops_index = pl.read_parquet(lake.well_file(SINGLE_CELL_CROPS, index.barcode, "A01"))
    assert dict(crops_index.schema) == CROPS_INDEX_SCHEMA
    cells = pl.read_parquet(lake.well_file(REGIONPROPS_FEATURES, index.barcode, "A01"))
    joined = crops_index.join(cells.cast({SITE: pl.Int32, "ObjectNumber": pl.Int64}), on=KEYS, how="inner")
    assert joined.height == crops_index.height == cells.height  # 1:1 on (plate, well, site, ObjectNumber)
    assert (joined["cell_area_px"] == joined["Cells_AreaShape_Area"]).all()
    assert crops_index["crop_index"].to_list() == list(range(crops_index.height))
    assert set(crops_index["box_size"]) == {48} and set(crops_index["view_size"]) == {32}

    crops = load_crops(crops_index)
    assert crops.shape == (crops_index.height, len(CHANNEL_ORDER) + 1, 32, 32) and crops.dtype == np.float32
    assert (crops[:, -1].reshape(len(crops), -1).max(axis=1) > 0).all()  # every crop holds its cell
    assert crops.min() >= 0 and crops.max() <= 1  # area averaging keeps the scaled range
    # the file holds the site and crop columns beside the crops, in the index's order
    stored, meta = load_well_crops(crops_index["crop_file"][0])
    assert stored.shape == crops.shape
    assert meta[SITE].to_list() == crops_index[SITE].to_list()
    assert meta["ObjectNumber"].to_list() == crops_index["ObjectNumber"].to_list()
    # a subset in another order comes back in that order
    picked = crops_index.reverse().head(3)
    np.testing.assert_array_equal(load_crops(picked), crops[::-1][:3])


def test_box_equal_to_view_is_stored_unresized(synthetic):
    index, lake = synthetic
    _crop(index, lake, "A02", box_size=32, view_size=32)
    crops_index = pl.read_parquet(lake.well_file(SINGLE_CELL_CROPS, index.barcode, "A02"))
    crops = load_crops(crops_index)
    assert crops.shape[-2:] == (32, 32)
    assert set(np.unique(crops[:, -1])) <= {0.0, 1.0}  # not resized: the mask stays binary


def test_resize_is_an_area_mean_within_range():
    rng = np.random.default_rng(0)
    crops = rng.random((3, 6, 64, 64)).astype(np.float32)
    small = resize_crops(crops, 32)
    assert small.shape == (3, 6, 32, 32) and small.dtype == np.float32
    np.testing.assert_allclose(small[1, 2, 0, 0], crops[1, 2, :2, :2].mean(), rtol=1e-6)
    assert small.min() >= 0 and small.max() <= 1
    assert resize_crops(crops[:0], 16).shape == (0, 6, 16, 16)
    assert np.shares_memory(resize_crops(crops, 64), crops)  # already the view size: no copy
    with pytest.raises(ValueError, match="positive view_size"):
        resize_crops(crops, 0)


def test_cell_less_sites_add_no_rows_and_a_cell_less_well_writes_empty_files(tmp_path: Path, synthetic):
    index, _ = synthetic
    lake = Lake(tmp_path / "lake")
    folder = index.folder
    _segmented_plate(folder, lake, ["A01"])
    masks = pl.read_parquet(lake.well_file("masks", index.barcode, "A01")).sort(SITE)
    prefixes = masks["site_prefix"].to_list()

    def erase(prefix: str) -> None:
        for kind in ("nuclei", "cells", "cytoplasm"):
            path = mask_path(lake, index.barcode, "A01", prefix, kind)
            tifffile.imwrite(path, np.zeros_like(tifffile.imread(path)))

    erase(prefixes[0])
    n = _crop(index, lake, "A01", box_size=40, view_size=16)
    rows = pl.read_parquet(lake.well_file(SINGLE_CELL_CROPS, index.barcode, "A01"))
    assert n == rows.height == masks["Count_Cells"][1] and set(rows[SITE]) == {2}

    erase(prefixes[1])
    assert _crop(index, lake, "A01", box_size=40, view_size=16) == 0
    empty = pl.read_parquet(lake.well_file(SINGLE_CELL_CROPS, index.barcode, "A01"))
    assert empty.height == 0 and dict(empty.schema) == CROPS_INDEX_SCHEMA
    crops, meta = load_well_crops(lake.well_folder(SINGLE_CELL_CROPS, index.barcode, "A01") / "crops.npz")
    assert crops.shape == (0, len(CHANNEL_ORDER) + 1, 16, 16) and meta.height == 0
    assert load_crops(empty).shape[0] == 0


def test_bad_sizes_are_refused(synthetic):
    index, lake = synthetic
    with pytest.raises(ValueError, match="positive"):
        _crop(index, lake, "A01", box_size=0)


def test_a_real_8bit_plate_two_stains_the_others_blank(tmp_path: Path):
    """CellProfiler's ExampleHuman (HT29, uint8, DNA and a cell stain only): crops of real cells."""
    folder = build_plate(tmp_path / "source")
    lake = Lake(tmp_path / "lake")
    index = read_plate(folder)
    well = index.wells()[0]
    assert tifffile.imread(index.well_images(well)["path"][0]).dtype == np.uint8
    _segmented_plate(folder, lake, [well])
    assert _crop(index, lake, well, box_size=40, view_size=32) > 0
    rows = pl.read_parquet(lake.well_file(SINGLE_CELL_CROPS, BARCODE, well))
    cells = pl.read_parquet(lake.well_file(REGIONPROPS_FEATURES, BARCODE, well))
    joined = rows.join(cells.cast({SITE: pl.Int32, "ObjectNumber": pl.Int64}), on=KEYS)
    assert joined.height == rows.height == cells.height
    crops = load_crops(rows)
    absent = [CHANNEL_ORDER.index(name) for name in CHANNEL_ORDER if name not in ("DNA", "AGP")]
    assert not crops[:, absent].any()
    assert crops[:, CHANNEL_ORDER.index("DNA")].max() > 0.5 and crops[:, CHANNEL_ORDER.index("AGP")].any()
    assert (crops[:, -1].reshape(len(crops), -1).max(axis=1) > 0).all()

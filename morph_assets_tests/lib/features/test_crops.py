"""Single-cell crops: geometry on hand-made label images, real numbering, the size rule, the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from skimage.draw import disk

from morph_assets.lib.features import (
    CHANNEL_ORDER,
    CROP_META_SCHEMA,
    crop_size_from_diameters,
    load_well_crops,
    measure_regionprops,
    robust_scale,
    save_well_crops,
    single_cell_crops,
)
from morph_assets.lib.plates import read_image
from morph_assets.lib.segment import SegmentationSettings, segment_site

SHAPE = (60, 80)
EXAMPLE_HUMAN = Path(__file__).resolve().parents[2] / "data" / "example_human"


def _images(dtype=np.float32, seed=0) -> dict[str, np.ndarray]:
    """Five distinct random channels: each pixel's value says where a crop took it from."""
    rng = np.random.default_rng(seed)
    high = np.iinfo(dtype).max if np.issubdtype(dtype, np.integer) else 1.0
    return {name: (rng.random(SHAPE) * high).astype(dtype) for name in CHANNEL_ORDER}


def _scaled(images: dict[str, np.ndarray]) -> np.ndarray:
    return np.stack([robust_scale(images[name]) for name in CHANNEL_ORDER])


def _window(stack: np.ndarray, top: int, left: int, size: int) -> np.ndarray:
    """The hand-sliced window, zero-padded where it leaves the image (independent of the module's padding)."""
    out = np.zeros((stack.shape[0], size, size), stack.dtype)
    for r in range(size):
        for c in range(size):
            row, col = top + r, left + c
            if 0 <= row < stack.shape[1] and 0 <= col < stack.shape[2]:
                out[:, r, c] = stack[:, row, col]
    return out


def test_cell_in_the_middle_equals_the_hand_sliced_window():
    labels = np.zeros(SHAPE, np.int32)
    labels[26:33, 36:45] = 7  # centroid (29, 40)
    images = _images()
    crops, meta = single_cell_crops(images, labels, size=16)
    assert crops.shape == (1, 6, 16, 16) and crops.dtype == np.float32
    assert meta.row(0, named=True) == {"ObjectNumber": 7, "crop_center_row": 29, "crop_center_col": 40,
                                       "cell_area_px": 63, "crop_clipped": False}
    np.testing.assert_array_equal(crops[0, :5], _scaled(images)[:, 21:37, 32:48])
    expected_mask = np.zeros((16, 16), np.float32)
    expected_mask[5:12, 4:13] = 1  # the cell sits at rows 26-32 = 21+5..21+11, cols 36-44 = 32+4..32+12
    np.testing.assert_array_equal(crops[0, 5], expected_mask)
    assert crops[0, 5, 8, 8] == 1  # the centre pixel is at index size // 2


@pytest.mark.parametrize(("rows", "cols", "centre"), [
    (slice(0, 5), slice(30, 39), (2, 34)),  # top border
    (slice(55, 60), slice(75, 80), (57, 77)),  # bottom-right corner
    (slice(0, 3), slice(0, 3), (1, 1)),  # top-left corner
])
def test_border_and_corner_cells_are_zero_padded(rows, cols, centre):
    labels = np.zeros(SHAPE, np.int32)
    labels[rows, cols] = 3
    images = _images(seed=1)
    crops, meta = single_cell_crops(images, labels, size=12)
    row = meta.row(0, named=True)
    assert (row["crop_center_row"], row["crop_center_col"]) == centre
    assert not row["crop_clipped"]
    top, left = centre[0] - 6, centre[1] - 6
    np.testing.assert_array_equal(crops[0, :5], _window(_scaled(images), top, left, 12))
    mask = _window((labels == 3)[None].astype(np.float32), top, left, 12)[0]
    np.testing.assert_array_equal(crops[0, 5], mask)
    outside = _window(np.ones((1, *SHAPE), np.float32), top, left, 12)[0] == 0
    assert outside.any()
    assert (crops[0][:, outside] == 0).all()  # images and mask are 0 outside the image
    assert crops[0, 5, 6, 6] == 1


def test_cell_larger_than_the_crop_is_cut_centred_and_flagged():
    labels = np.zeros(SHAPE, np.int32)
    rr, cc = disk((30, 40), 12, shape=SHAPE)
    labels[rr, cc] = 1
    labels[2:5, 2:5] = 2  # a small cell that fits
    crops, meta = single_cell_crops(_images(), labels, size=16)
    assert meta["crop_clipped"].to_list() == [True, False]
    assert meta.row(0)[1:3] == (30, 40)
    assert crops[0, 5].all()  # the disk fills the whole window: cut, not resized
    np.testing.assert_array_equal(crops[0, :5], _scaled(_images())[:, 22:38, 32:48])


def test_touching_cells_each_mask_holds_only_its_own_cell():
    labels = np.zeros(SHAPE, np.int32)
    labels[20:30, 20:30] = 4
    labels[20:30, 30:40] = 9  # shares an edge with cell 4
    crops, meta = single_cell_crops(_images(), labels, size=32)
    assert meta["ObjectNumber"].to_list() == [4, 9]
    centres = meta.select("ObjectNumber", "crop_center_row", "crop_center_col").iter_rows()
    for crop, (number, row, col) in zip(crops, centres, strict=True):
        window = _window(labels[None], row - 16, col - 16, 32)[0]
        np.testing.assert_array_equal(crop[5], (window == number).astype(np.float32))
        assert crop[5].sum() == 100
        assert (crop[5][window != number] == 0).all()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float64])
def test_any_input_dtype_is_scaled_as_the_site_tensors(dtype):
    labels = np.zeros(SHAPE, np.int32)
    labels[10:20, 10:20] = 1
    images = _images(dtype)
    crops, _ = single_cell_crops(images, labels, size=8)
    assert crops.dtype == np.float32
    assert 0 <= crops.min() and crops.max() <= 1
    np.testing.assert_array_equal(crops[0, :5], _scaled(images)[:, 11:19, 11:19])
    # counts and the same image as a fraction of full scale give one crop: the percentile sets the scale
    if dtype != np.float64:
        fractions = {name: image / np.iinfo(dtype).max for name, image in images.items()}
        np.testing.assert_allclose(single_cell_crops(fractions, labels, size=8)[0], crops, atol=1e-6)


def test_empty_label_image_gives_no_crops_with_the_right_shape_and_schema():
    crops, meta = single_cell_crops(_images(), np.zeros(SHAPE, np.uint16), size=24)
    assert crops.shape == (0, 6, 24, 24) and crops.dtype == np.float32
    assert meta.height == 0 and meta.schema == pl.Schema(CROP_META_SCHEMA)


def test_bad_inputs_are_refused():
    labels = np.zeros(SHAPE, np.int32)
    with pytest.raises(ValueError, match="missing"):
        single_cell_crops({"DNA": np.zeros(SHAPE)}, labels, size=8)
    with pytest.raises(ValueError, match="shape"):
        single_cell_crops(_images(), np.zeros((5, 5), np.int32), size=8)
    with pytest.raises(ValueError, match="integer"):
        single_cell_crops(_images(), labels.astype(float), size=8)
    with pytest.raises(ValueError, match="positive"):
        single_cell_crops(_images(), labels, size=0)
    with pytest.raises(ValueError, match="negative"):
        single_cell_crops(_images(), labels - 1, size=8)


def test_object_numbers_join_the_regionprops_rows_on_a_real_segmentation():
    """ExampleHuman (real HT29 cells, CellProfiler's example): crops carry the label values, and
    each row joins its regionprops row with the same area."""
    names = ("DNA", "PH3", "cellbody")
    images = {name: read_image(EXAMPLE_HUMAN / f"AS_09125_050116030001_D03f00d{index}.tif")
              for index, name in enumerate(names)}
    settings = SegmentationSettings(nucleus_channel="DNA", cell_channel="cellbody",
                                    nucleus_diameter_range=(8.0, 80.0))
    segmentation = segment_site({name: image / 255.0 for name, image in images.items()}, "classical", settings)
    crops, meta = single_cell_crops(images, segmentation.cells, size=48, channels=names)
    assert crops.shape == (meta.height, 4, 48, 48) and meta.height > 200
    assert meta["ObjectNumber"].to_list() == sorted(set(np.unique(segmentation.cells).tolist()) - {0})
    table = measure_regionprops(segmentation, images)
    joined = meta.join(table, on="ObjectNumber", how="inner")
    assert joined.height == meta.height == table.height
    assert (joined["cell_area_px"] == joined["Cells_AreaShape_Area"]).all()
    # the centre pixel of every crop is its own cell's where the cell covers its centroid
    own_centre = crops[:, -1, 24, 24] == 1
    assert own_centre.mean() > 0.9
    size = crop_size_from_diameters(table["Cells_AreaShape_EquivalentDiameter"].to_numpy())
    assert size % 8 == 0 and size >= 32


def test_crop_size_from_known_diameters():
    diameters = np.arange(1, 101, dtype=float)  # 95th percentile (linear) = 95.05
    assert crop_size_from_diameters(diameters) == 144  # 1.5 * 95.05 = 142.6 -> 144
    assert crop_size_from_diameters(diameters, scale=1.0, multiple=1) == 96
    assert crop_size_from_diameters([20.0, 30.0, 40.0], percentile=100) == 64  # 60 -> 64
    assert crop_size_from_diameters([8.0, 8.0]) == 32  # 12 is under the minimum
    assert crop_size_from_diameters([np.nan, -1.0, 0.0]) == 32  # nothing usable
    assert crop_size_from_diameters([], minimum=40) == 40
    assert crop_size_from_diameters([40.0, np.inf], multiple=16) == 64  # the infinite one ignored
    with pytest.raises(ValueError):
        crop_size_from_diameters([10.0], multiple=0)
    with pytest.raises(ValueError):
        crop_size_from_diameters([10.0], percentile=101)


def test_writer_reader_round_trip(tmp_path):
    labels = np.zeros(SHAPE, np.int32)
    labels[10:20, 10:20] = 1
    labels[40:50, 60:75] = 5
    crops, meta = single_cell_crops(_images(np.uint16), labels, size=16)
    meta = meta.with_columns(pl.lit("B02").alias("Metadata_Well"), pl.lit(3, pl.Int32).alias("Metadata_Site"))
    path = save_well_crops(tmp_path / "crops" / "well.npz", crops, meta)
    assert path == tmp_path / "crops" / "well.npz" and list(path.parent.iterdir()) == [path]
    loaded, loaded_meta = load_well_crops(path)
    assert loaded.dtype == np.float32 and loaded.shape == crops.shape
    np.testing.assert_allclose(loaded, crops, atol=2.0**-11)  # stored as float16
    assert loaded_meta.equals(meta) and loaded_meta.schema == meta.schema
    empty_crops, empty_meta = single_cell_crops(_images(), np.zeros(SHAPE, np.int32), size=16)
    empty_path = save_well_crops(tmp_path / "empty.npz", empty_crops, empty_meta)
    back, back_meta = load_well_crops(empty_path)
    assert back.shape == (0, 6, 16, 16) and back_meta.schema == empty_meta.schema


def test_writer_and_reader_refuse_bad_input(tmp_path):
    crops, meta = single_cell_crops(_images(), np.ones(SHAPE, np.int32), size=4)
    with pytest.raises(ValueError, match="one meta row"):
        save_well_crops(tmp_path / "x.npz", crops, meta.clear())
    with pytest.raises(ValueError, match="nulls"):
        save_well_crops(tmp_path / "x.npz", crops, meta.with_columns(pl.lit(None, pl.Int32).alias("Metadata_Site")))
    assert not (tmp_path / "x.npz").exists()
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz"):
        load_well_crops(tmp_path / "bad.npz")

"""One site read from files of any pixel type, through every measurement family.

The reference for "the same features" is the intensity contract computed by hand (v / full
scale) and, for the real 8-bit image, cp-measure run on the same objects.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest
import tifffile
from polars.testing import assert_frame_equal

from morph_assets.lib.features import (
    cellprofiler as cpf,
    load_illumination,
    load_site,
    measure_regionprops,
    site_tensor,
)
from morph_assets.lib.plates import CHANNEL_NAMES, ImageReadError
from morph_assets.lib.segment import SegmentationSettings, segment_site
from morph_assets.lib.synthetic import SyntheticConfig, render_site

EXAMPLE_HUMAN = Path(__file__).resolve().parents[2] / "data" / "example_human"

# 8-bit data c8 stored five ways. Every storage except int16 encodes exactly the fraction c8 / 255
# (65535 = 255 * 257), and float32 division is correctly rounded, so their contract images are
# bit-identical and so must every feature be (tolerance 0). int16 cannot hold c8 / 255 exactly:
# rint(c8 * 32767 / 255) is off by at most half an int16 step, 0.5 / 32767 of full scale.
STORAGES = {
    "uint8": lambda c8: c8,
    "uint16": lambda c8: c8.astype(np.uint16) * np.uint16(257),
    "float32_counts": lambda c8: c8.astype(np.float32) * np.float32(257),
    "float32_unit": lambda c8: c8.astype(np.float32) / np.float32(255),
    "int16": lambda c8: np.rint(c8 * (32767 / 255)).astype(np.int16),
}
INT16_HALF_STEP = 0.5 / 32767


def _flat_field(shape: tuple[int, int], low: float) -> np.ndarray:
    """A vignette-like function from ``low`` (< 1, brightening) at one spot to 1.25."""
    y, x = np.mgrid[: shape[0], : shape[1]] / (np.array(shape)[:, None, None] - 1)
    distance = np.hypot(y - 0.2, x - 0.3) / np.hypot(0.8, 0.7)
    return (low + (1.25 - low) * distance).astype(np.float32)


@pytest.fixture(scope="module")
def site_8bit():
    """A synthetic site's five channels as 8-bit data (a few pixels at 255) and its objects."""
    rendered = render_site(SyntheticConfig(image_size=112, cell_diameter_px=30.0), 0, "B03", 1)
    nuclei = rendered.nuclei_labels.astype(np.int32)
    cells = rendered.cell_labels.astype(np.int32)
    cytoplasm = np.where(nuclei > 0, 0, cells).astype(np.int32)
    segmentation = SimpleNamespace(nuclei=nuclei, cells=cells, cytoplasm=cytoplasm)
    c8 = {}
    for index, channel in enumerate(rendered.channels):
        if channel <= 5:
            image = rendered.images[index].astype(np.float64)
            stretched = np.minimum(255, image * 240 / np.percentile(image, 99.9))
            c8[CHANNEL_NAMES[channel]] = np.rint(stretched).astype(np.uint8)
    return segmentation, c8


def _write_site(folder: Path, c8: dict[str, np.ndarray], storage: str) -> list[dict]:
    rows = []
    for channel, pixels in c8.items():
        path = folder / f"{storage}-{channel}.tiff"
        tifffile.imwrite(path, STORAGES[storage](pixels))
        rows.append({"channel_name": channel, "path": str(path)})
    return rows


@pytest.fixture(scope="module")
def measured(site_8bit, tmp_path_factory):
    """Per storage: the corrected images, CellProfiler Mean_ row (every family) and regionprops table."""
    segmentation, c8 = site_8bit
    folder = tmp_path_factory.mktemp("storages")
    flat = _flat_field(segmentation.cells.shape, low=0.7)
    out = {}
    for storage in STORAGES:
        images = load_site(_write_site(folder, c8, storage), dict.fromkeys(c8, flat))
        out[storage] = (
            images,
            cpf.measure_cellprofiler_means(segmentation, images, cpf.FAMILIES),
            measure_regionprops(segmentation, images),
        )
    return out


def test_contract_images_equal_the_hand_computation(site_8bit, measured):
    _, c8 = site_8bit
    flat = _flat_field(next(iter(c8.values())).shape, low=0.7)
    for storage, (images, _, _) in measured.items():
        tolerance = INT16_HALF_STEP / flat.min() if storage == "int16" else 0.0
        for channel, pixels in c8.items():
            expected = (pixels.astype(np.float64) / 255) / flat
            np.testing.assert_allclose(images[channel], expected, rtol=2e-7 if not tolerance else 0,
                                       atol=tolerance + 1e-7, err_msg=f"{storage} {channel}")
            assert images[channel].dtype == np.float32
    # the flat field below 1 lifts the brightest pixels past the full scale
    assert max(float(image.max()) for image in measured["uint16"][0].values()) > 1.25


@pytest.mark.parametrize("storage", ["uint8", "float32_counts", "float32_unit"])
def test_exact_storages_give_identical_features_in_every_family(measured, storage):
    _, means, regionprops = measured[storage]
    _, reference_means, reference_regionprops = measured["uint16"]
    assert {column.split("_")[2] for column in means.columns if column.startswith("Mean_")} >= {
        "AreaShape", "Intensity", "Texture", "Granularity", "RadialDistribution", "Location"}
    assert_frame_equal(means, reference_means, check_exact=True)
    assert_frame_equal(regionprops, reference_regionprops, check_exact=True)
    assert means["Count_Cells"].item() > 5
    values = means.select(c for c in means.columns if c.startswith("Mean_") and "_AreaShape_" not in c).to_numpy()
    assert np.isfinite(values[~np.isnan(values)]).all()


INTENSITY_LEVEL = ("MeanIntensity", "MedianIntensity", "MinIntensity", "MaxIntensity", "LowerQuartileIntensity",
                   "UpperQuartileIntensity", "StdIntensity", "MeanIntensityEdge", "MinIntensityEdge",
                   "MaxIntensityEdge")


def test_int16_features_within_half_an_int16_step(measured, site_8bit):
    segmentation, _ = site_8bit
    flat_min = float(_flat_field(segmentation.cells.shape, low=0.7).min())
    # every pixel moves by at most 0.5 / 32767 / f: means, quantiles, extremes and the standard
    # deviation of each object move by at most that much, and so do their means over objects
    bound = INT16_HALF_STEP / flat_min
    _, means, regionprops = measured["int16"]
    _, reference_means, reference_regionprops = measured["uint16"]
    columns = [c for c in reference_means.columns if "_Intensity_" in c and c.split("_")[3] in INTENSITY_LEVEL]
    assert len(columns) == 3 * 5 * len(INTENSITY_LEVEL)
    difference = np.abs(means.select(columns).to_numpy() - reference_means.select(columns).to_numpy())
    assert difference.max() <= bound * (1 + 1e-6)
    intensity = [c for c in reference_regionprops.columns if "_Intensity_" in c and "Integrated" not in c]
    difference = np.abs(regionprops.select(intensity).to_numpy() - reference_regionprops.select(intensity).to_numpy())
    assert np.nanmax(difference) <= bound * (1 + 1e-6)
    assert means["Count_Cells"].item() == reference_means["Count_Cells"].item()


def test_int16_texture_levels_equal_without_flat_field(site_8bit, tmp_path):
    """Without correction the texture levels are the 8-bit values for every storage, int16 too:
    255 * rint(c8 * 32767 / 255) / 32767 is within 255 * 0.5 / 32767 = 0.004 of the integer c8."""
    segmentation, c8 = site_8bit
    tables = {}
    for storage in ("uint16", "int16", "uint8"):
        images = load_site(_write_site(tmp_path, c8, storage))
        tables[storage] = cpf.measure_cellprofiler_means(segmentation, images, ("texture",))
    assert_frame_equal(tables["int16"], tables["uint16"], check_exact=True)
    assert_frame_equal(tables["uint8"], tables["uint16"], check_exact=True)


def test_site_tensors_take_values_above_one(measured, site_8bit):
    segmentation, _ = site_8bit
    images = measured["uint16"][0]
    tensor = site_tensor(images, segmentation.cells, size=16)
    assert tensor.shape == (6, 16, 16) and np.isfinite(tensor).all()
    assert tensor.min() >= 0 and tensor.max() <= 1
    # robust scaling divides by each image's own 99.9th percentile: the storage does not matter
    np.testing.assert_array_equal(site_tensor(measured["float32_counts"][0], segmentation.cells, size=16), tensor)


def test_unmappable_site_image_names_the_file(tmp_path):
    path = tmp_path / "nan.tiff"
    image = np.full((16, 16), 0.5, np.float32)
    image[3, 3] = np.nan
    tifffile.imwrite(path, image)
    with pytest.raises(ImageReadError) as caught:
        load_site([{"channel_name": "DNA", "path": str(path)}])
    assert caught.value.path == str(path) and "NaN" in str(caught.value)


def test_bad_illumination_function_names_the_file(tmp_path):
    image_path = tmp_path / "dna.tiff"
    tifffile.imwrite(image_path, np.full((16, 16), 100, np.uint16))
    function_path = tmp_path / "illumination-DNA.tiff"
    tifffile.imwrite(function_path, np.zeros((16, 16), np.float32))
    with pytest.raises(ImageReadError) as caught:
        load_illumination({"DNA": str(function_path)})
    assert caught.value.path == str(function_path) and "256 pixel(s) that are not positive" in str(caught.value)
    tifffile.imwrite(function_path, np.ones((16, 24), np.float32))
    with pytest.raises(ImageReadError) as caught:
        load_site([{"channel_name": "DNA", "path": str(image_path)}], load_illumination({"DNA": str(function_path)}))
    assert caught.value.path == str(image_path) and "(16, 16)" in str(caught.value) and "(16, 24)" in str(caught.value)


# --- a real 8-bit image: CellProfiler's ExampleHuman (HT29 cells, uint8, 512 x 512) ---------------

EXAMPLE_SETTINGS = SegmentationSettings(
    nucleus_channel="DNA", cell_channel="cellbody", nucleus_diameter_range=(8.0, 80.0),
    threshold_method="minimum_cross_entropy", cell_threshold_method="minimum_cross_entropy",
    cell_threshold_correction=0.8,
)


@pytest.fixture(scope="module")
def example_human():
    rows = [{"channel_name": name, "path": str(EXAMPLE_HUMAN / f"AS_09125_050116030001_D03f00d{index}.tif")}
            for index, name in enumerate(("DNA", "PH3", "cellbody"))]
    flat = _flat_field((512, 512), low=0.7)
    images = load_site(rows, dict.fromkeys(("DNA", "PH3", "cellbody"), flat))
    return rows, flat, images, segment_site(images, "classical", EXAMPLE_SETTINGS)


def test_example_human_reads_as_cellprofiler_does(example_human):
    rows, flat, images, _ = example_human
    for row in rows:
        raw = tifffile.imread(row["path"])
        assert raw.dtype == np.uint8
        np.testing.assert_allclose(images[row["channel_name"]], raw / 255.0 / flat, rtol=3e-7)
    assert images["cellbody"].max() > 1.2  # 255 under the 0.7 corner of the flat field


def test_example_human_every_family_with_values_above_one(example_human):
    _, _, images, segmentation = example_human
    with np.errstate(divide="ignore"):  # cp-measure's FormFactor of a one-pixel cytoplasm: area / 0
        means = cpf.measure_cellprofiler_means(segmentation, images, cpf.FAMILIES)
    # CellProfiler found 289 cells in this image; our classical recipe finds a few less
    assert 250 <= means["Count_Cells"].item() <= 300
    # the intensity families (AreaShape depends on the masks only: a one-pixel cytoplasm has
    # perimeter 0 and FormFactor inf, whatever the image)
    measured = [c for c in means.columns if c.startswith("Mean_") and "_AreaShape_" not in c]
    values = means.select(measured).to_numpy().ravel()
    assert np.isfinite(values[~np.isnan(values)]).all()
    assert {c.split("_")[2] for c in means.columns if c.startswith("Mean_")} >= {
        "AreaShape", "Intensity", "Texture", "Granularity", "RadialDistribution"}
    regionprops = measure_regionprops(segmentation, images)
    assert regionprops["Cells_Intensity_MaxIntensity_cellbody"].max() > 1.0


def test_example_human_against_cp_measure_on_a_crop(example_human):
    """Texture above 1 equals cp-measure on the image clipped at 1 (CellProfiler's default
    CorrectIlluminationApply); intensity equals cp-measure on the unclipped image."""
    _, _, images, segmentation = example_human
    crop = (slice(8, 200), slice(56, 248))  # around the flat field's 0.7 spot at (102, 153)
    objects = SimpleNamespace(nuclei=segmentation.nuclei[crop], cells=segmentation.cells[crop],
                              cytoplasm=segmentation.cytoplasm[crop])
    cropped = {name: image[crop] for name, image in images.items()}
    assert cropped["cellbody"].max() > 1.2 and (cropped["cellbody"] > 1).sum() > 20
    clipped = {name: np.minimum(image, 1.0) for name, image in cropped.items()}
    for family, reference_images in (("texture", clipped), ("intensity", cropped)):
        ours = cpf.measure_cellprofiler(objects, cropped, (family,))
        with np.errstate(divide="ignore", invalid="ignore"):
            reference = cpf.measure_cp_measure(objects, reference_images, (family,)).select(ours.columns)
        np.testing.assert_allclose(ours.to_numpy().astype(float), reference.to_numpy().astype(float),
                                   rtol=1e-9, atol=1e-9, err_msg=family)

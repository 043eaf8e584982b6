"""regionprops features: against skimage itself and hand-known shapes."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest
from skimage.draw import disk
from skimage.measure import regionprops

from morph_assets.lib.features import image_aggregates, measure_regionprops


@pytest.fixture(scope="module")
def shapes():
    cells = np.zeros((80, 80), np.int32)
    nuclei = np.zeros_like(cells)
    cells[5:25, 5:45] = 1  # 20 x 40 rectangle
    nuclei[10:20, 10:20] = 1
    rr, cc = disk((55, 55), 15, shape=cells.shape)
    cells[rr, cc] = 2
    rr, cc = disk((55, 55), 6, shape=cells.shape)
    nuclei[rr, cc] = 2
    cytoplasm = np.where(nuclei > 0, 0, cells)
    rng = np.random.default_rng(0)
    images = {"DNA": rng.integers(0, 65535, cells.shape).astype(np.uint16), "RNA": np.full(cells.shape, 7.0)}
    return SimpleNamespace(nuclei=nuclei, cells=cells, cytoplasm=cytoplasm), images


def test_hand_known_shapes(shapes):
    segmentation, images = shapes
    table = measure_regionprops(segmentation, images)
    assert table["ObjectNumber"].to_list() == [1, 2]
    rectangle, circle = table.row(0, named=True), table.row(1, named=True)
    assert rectangle["Cells_AreaShape_Area"] == 800
    assert rectangle["Cells_AreaShape_Extent"] == 1.0
    assert rectangle["Cells_AreaShape_Solidity"] == 1.0
    assert rectangle["Nuclei_AreaShape_Area"] == 100
    assert rectangle["Cytoplasm_AreaShape_Area"] == 700
    assert rectangle["Cytoplasm_AreaShape_EulerNumber"] == 0  # a ring has one hole
    assert circle["Cells_AreaShape_Area"] == pytest.approx(np.pi * 15**2, rel=0.02)
    assert circle["Cells_AreaShape_Eccentricity"] == pytest.approx(0.0, abs=0.05)
    rows, cols = np.nonzero(segmentation.cells == 2)
    bbox = (np.ptp(rows) + 1) * (np.ptp(cols) + 1)
    assert circle["Cells_AreaShape_Extent"] == rows.size / bbox  # pixel disk: ~pi/4 of its box
    assert circle["Cells_AreaShape_Extent"] == pytest.approx(np.pi / 4, rel=0.06)
    assert circle["Cells_AreaShape_EquivalentDiameter"] == pytest.approx(30, rel=0.02)
    assert rectangle["Cells_Intensity_MeanIntensity_RNA"] == 7.0
    assert rectangle["Cells_Intensity_StdIntensity_RNA"] == 0.0
    assert rectangle["Cells_Intensity_IntegratedIntensity_RNA"] == 7.0 * 800


def test_against_skimage(shapes):
    segmentation, images = shapes
    table = measure_regionprops(segmentation, images)
    dna = images["DNA"].astype(float) / 65535.0  # uint16 pixels enter on the intensity contract: counts / 65535
    for compartment, labels in (("Nuclei", segmentation.nuclei), ("Cytoplasm", segmentation.cytoplasm)):
        for region in regionprops(labels, intensity_image=dna):
            row = table.filter(pl.col("ObjectNumber") == region.label).row(0, named=True)
            assert row[f"{compartment}_AreaShape_Perimeter"] == pytest.approx(region.perimeter)
            assert row[f"{compartment}_AreaShape_MajorAxisLength"] == pytest.approx(region.axis_major_length)
            assert row[f"{compartment}_AreaShape_Orientation"] == pytest.approx(region.orientation)
            values = dna[labels == region.label]
            assert row[f"{compartment}_Intensity_MeanIntensity_DNA"] == pytest.approx(values.mean())
            assert row[f"{compartment}_Intensity_MaxIntensity_DNA"] == values.max()
            assert row[f"{compartment}_Intensity_MinIntensity_DNA"] == values.min()
            assert row[f"{compartment}_Intensity_StdIntensity_DNA"] == pytest.approx(values.std())
            assert row[f"{compartment}_Intensity_IntegratedIntensity_DNA"] == pytest.approx(values.sum())


def test_missing_compartment_is_null(shapes):
    segmentation, images = shapes
    nuclei = segmentation.nuclei.copy()
    nuclei[nuclei == 2] = 0
    table = measure_regionprops(SimpleNamespace(nuclei=nuclei, cells=segmentation.cells, cytoplasm=segmentation.cytoplasm), images)
    assert table["Nuclei_AreaShape_Area"].to_list() == [100, None]


def test_image_aggregates(shapes):
    segmentation, images = shapes
    table = measure_regionprops(segmentation, images)
    both = pl.concat([table.with_columns(ImageNumber=pl.lit(1)), table.head(1).with_columns(ImageNumber=pl.lit(2))])
    aggregates = image_aggregates(both)
    assert aggregates["ImageNumber"].to_list() == [1, 2]
    assert aggregates["Count_Objects"].to_list() == [2, 1]
    assert aggregates["Count_Cells"].to_list() == [2, 1]
    assert aggregates["Mean_Cells_AreaShape_Area"][1] == 800
    assert aggregates["Mean_Cells_AreaShape_Area"][0] == pytest.approx(table["Cells_AreaShape_Area"].mean())
    assert image_aggregates(table).height == 1


def test_a_site_without_objects_aggregates_to_zero_counts_and_null_means(shapes):
    _, images = shapes
    empty = np.zeros(images["DNA"].shape, np.int32)
    table = measure_regionprops(SimpleNamespace(nuclei=empty, cells=empty, cytoplasm=empty), images)
    assert table.height == 0 and "Cells_Intensity_MeanIntensity_DNA" in table.columns  # every column, no row
    row = image_aggregates(table, by=[])
    counts = ["Count_Objects", "Count_Nuclei", "Count_Cells", "Count_Cytoplasm"]
    assert row.height == 1 and row.select(counts).to_dicts() == [dict.fromkeys(counts, 0)]
    assert all(row.schema[name] == pl.Int64 for name in counts)
    means = [name for name in row.columns if name.startswith("Mean_")]
    assert len(means) == len(table.columns) - 1  # one per feature column (ObjectNumber is not one)
    assert row.select(means).null_count().row(0) == (1,) * len(means)


def test_float_images_off_the_intensity_contract_are_one_clear_error(shapes):
    segmentation, images = shapes
    dna = images["DNA"] / 65535.0 - 0.5  # a centred image: half its pixels negative
    with pytest.raises(ValueError, match=r"^image 'DNA': \d+ pixel\(s\) are NaN, infinite or negative, .*scale_image"):
        measure_regionprops(segmentation, {"DNA": dna})


def test_every_column_equals_regionprops_bit_for_bit():
    """Intensity statistics (computed for all objects at once) and the Feret diameter (from the
    convex image, without find_contours) are regionprops' own numbers, not round-off neighbours."""
    rng = np.random.default_rng(3)
    cells = np.zeros((120, 140), np.int32)
    for label in range(1, 9):
        rr, cc = disk((rng.integers(12, 108), rng.integers(12, 128)), rng.integers(4, 12), shape=cells.shape)
        cells[rr, cc] = label
    cells[rng.random(cells.shape) < 0.05] = 0  # holes and ragged edges
    nuclei = np.where(rng.random(cells.shape) < 0.3, cells, 0)
    cytoplasm = np.where(nuclei > 0, 0, cells)
    images = {name: rng.random(cells.shape) * 1.5 for name in ("DNA", "RNA", "Mito")}
    table = measure_regionprops(SimpleNamespace(nuclei=nuclei, cells=cells, cytoplasm=cytoplasm), images)
    stacked = np.stack(list(images.values()), axis=-1)
    for compartment, labels in (("Nuclei", nuclei), ("Cells", cells), ("Cytoplasm", cytoplasm)):
        for region in regionprops(labels, intensity_image=stacked):
            row = table.filter(pl.col("ObjectNumber") == region.label).row(0, named=True)
            assert row[f"{compartment}_AreaShape_MaxFeretDiameter"] == region.feret_diameter_max
            for index, channel in enumerate(images):
                assert row[f"{compartment}_Intensity_MeanIntensity_{channel}"] == region.intensity_mean[index]
                assert row[f"{compartment}_Intensity_StdIntensity_{channel}"] == region.intensity_std[index]
                assert row[f"{compartment}_Intensity_MinIntensity_{channel}"] == region.intensity_min[index]
                assert row[f"{compartment}_Intensity_MaxIntensity_{channel}"] == region.intensity_max[index]

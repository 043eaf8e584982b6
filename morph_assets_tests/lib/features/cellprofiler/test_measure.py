"""Our CellProfiler measurements against cp-measure: the full table, the naming, the per-image means.

The families' own checks (intensity, texture, granularity, radial) are in the test module of
each family's module.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest

from morph_assets.lib.features import cellprofiler as cpf
from morph_assets.lib.features import COMPARTMENTS
from morph_assets.lib.plates import CHANNEL_NAMES
from morph_assets.lib.synthetic import SyntheticConfig, render_site
from morph_assets_tests.lib.features.cellprofiler.helpers import CORE, _close


@pytest.fixture(scope="module")
def tables(site):
    segmentation, images = site
    return cpf.measure_cellprofiler(segmentation, images), cpf.measure_cp_measure(segmentation, images)


def test_full_table_equals_bare_cp_measure(tables):
    ours, reference = tables
    assert ours.columns == reference.columns
    assert ours["ObjectNumber"].to_list() == reference["ObjectNumber"].to_list()
    for column in reference.columns:
        a, b = ours[column].to_numpy().astype(float), reference[column].to_numpy().astype(float)
        assert np.array_equal(np.isnan(a), np.isnan(b)), column
        _close(a[~np.isnan(b)], b[~np.isnan(b)])


_CP_PATTERNS = [
    r"AreaShape_[A-Za-z]+(_\d+)*(_[XY])?",
    r"Intensity_[A-Za-z]+_(Mito|AGP|RNA|ER|DNA)",
    r"Location_(CenterMassIntensity|MaxIntensity)_[XYZ]_(Mito|AGP|RNA|ER|DNA)",
    r"Texture_[A-Za-z0-9]+_(Mito|AGP|RNA|ER|DNA)_3_0[0-3]_256",
    r"Granularity_([1-9]|1[0-6])_(Mito|AGP|RNA|ER|DNA)",
    r"RadialDistribution_(FracAtD|MeanFrac|RadialCV)_(Mito|AGP|RNA|ER|DNA)_[1-4]of4",
    r"RadialDistribution_Zernike(Magnitude|Phase)_(Mito|AGP|RNA|ER|DNA)_\d_\d",
]


def test_every_emitted_name_is_cellprofiler_style(tables):
    ours, _ = tables
    pattern = re.compile(r"^(Nuclei|Cells|Cytoplasm)_(" + "|".join(_CP_PATTERNS) + r")$")
    columns = ours.columns[1:]
    assert [c for c in columns if not pattern.match(c)] == []
    assert not any("PerimeterCrofton" in c for c in columns)
    per_object = {obj: sum(c.startswith(f"{obj}_") for c in columns) for obj in COMPARTMENTS}
    # 77 shape + 30 Zernike + 2 Feret; per channel 21 intensity + 52 texture + 16 granularity
    # + 12 radial + 60 radial Zernike
    assert per_object == {obj: 109 + 5 * 161 for obj in COMPARTMENTS}


@pytest.mark.parametrize(
    ("family", "name", "channel", "expected"),
    [
        ("sizeshape", "Area", None, "AreaShape_Area"),
        ("zernike", "Zernike_3_1", None, "AreaShape_Zernike_3_1"),
        ("feret", "MaxFeretDiameter", None, "AreaShape_MaxFeretDiameter"),
        ("intensity", "Intensity_MeanIntensity", "DNA", "Intensity_MeanIntensity_DNA"),
        ("intensity", "Location_CenterMassIntensity_X", "ER", "Location_CenterMassIntensity_X_ER"),
        ("texture", "AngularSecondMoment_3_00_256", "DNA", "Texture_AngularSecondMoment_DNA_3_00_256"),
        ("texture", "InfoMeas2_3_03_256", "RNA", "Texture_InfoMeas2_RNA_3_03_256"),
        ("granularity", "Granularity_16", "Mito", "Granularity_16_Mito"),
        ("radial_distribution", "RadialDistribution_RadialCV_4of4", "AGP", "RadialDistribution_RadialCV_AGP_4of4"),
        ("radial_zernikes", "RadialDistribution_ZernikePhase_9_7", "DNA", "RadialDistribution_ZernikePhase_DNA_9_7"),
    ],
)
def test_name_mapping(family, name, channel, expected):
    assert cpf.cellprofiler_name(family, name, channel) == expected


def test_name_mapping_covers_every_cp_measure_output(site):
    segmentation, images = site
    labels, pixels = segmentation.nuclei, images["DNA"] / 65535.0
    for family in cpf.FAMILIES:
        with np.errstate(invalid="ignore", divide="ignore"):
            names = CORE[family](labels, pixels).keys()
        channel = None if family in cpf.MASK_FAMILIES else "DNA"
        mapped = {cpf.cellprofiler_name(family, n, channel) for n in names if n not in cpf.NOT_IN_CELLPROFILER}
        assert mapped <= {c.removeprefix("Nuclei_") for c in cpf.measure_cellprofiler(
            SimpleNamespace(nuclei=labels, cells=labels, cytoplasm=labels), {"DNA": images["DNA"]}, [family]
        ).columns}


def test_mean_table():
    per_object = pl.DataFrame(
        {
            "ImageNumber": [1, 1, 2],
            "ObjectNumber": [1, 2, 1],
            "Nuclei_AreaShape_Area": [10.0, 20.0, 5.0],
            "Cytoplasm_AreaShape_Area": [1.0, None, 3.0],
            "Cells_Texture_Contrast_DNA_3_00_256": [float("nan"), 2.0, 4.0],
        }
    )
    means = cpf.mean_table(per_object)
    assert means["ImageNumber"].to_list() == [1, 2]
    assert means["Count_Nuclei"].to_list() == [2, 1]
    assert means["Count_Cytoplasm"].to_list() == [1, 1]
    assert means["Mean_Nuclei_AreaShape_Area"].to_list() == [15.0, 5.0]
    assert means["Mean_Cells_Texture_Contrast_DNA_3_00_256"].to_list() == [2.0, 4.0]


def test_mean_table_of_measurements(tables):
    ours, _ = tables
    means = cpf.mean_table(ours)
    assert means.height == 1
    assert means["Count_Cells"].item() == ours["Cells_AreaShape_Area"].is_not_null().sum()
    assert means["Mean_Cells_AreaShape_Area"].item() == pytest.approx(ours["Cells_AreaShape_Area"].mean())
    assert "Mean_Cytoplasm_Texture_Contrast_RNA_3_00_256" in means.columns


# --- per-image means straight from the column arrays ---


def _assert_same_means(fast: pl.DataFrame, reference: pl.DataFrame) -> None:
    assert fast.columns == reference.columns
    assert fast.dtypes == reference.dtypes
    assert fast.height == reference.height
    for column in reference.columns:
        a, b = fast[column], reference[column]
        assert a.is_null().to_list() == b.is_null().to_list(), column
        a = a.drop_nulls().to_numpy().astype(float)
        b = b.drop_nulls().to_numpy().astype(float)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=column)
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=0.0, equal_nan=True, err_msg=column)


def _render(size: int, well: str, diameter: float = 34.0):
    rendered = render_site(SyntheticConfig(image_size=size, cell_diameter_px=diameter), 0, well, 1)
    nuclei = rendered.nuclei_labels.astype(np.int32)
    cells = rendered.cell_labels.astype(np.int32)
    segmentation = SimpleNamespace(
        nuclei=nuclei, cells=cells, cytoplasm=np.where(nuclei > 0, 0, cells).astype(np.int32)
    )
    images = {CHANNEL_NAMES[c]: rendered.images[i] for i, c in enumerate(rendered.channels) if c <= 5}
    return segmentation, images


PLATFORM_FAMILIES = ("sizeshape", "intensity", "texture")


@pytest.mark.parametrize("families", [PLATFORM_FAMILIES, cpf.FAMILIES])
def test_means_equal_mean_table_of_measurements(site, families):
    segmentation, images = site
    fast = cpf.measure_cellprofiler_means(segmentation, images, families)
    _assert_same_means(fast, cpf.mean_table(cpf.measure_cellprofiler(segmentation, images, families)))
    assert fast.height == 1 and fast["Count_Cells"].item() == int(segmentation.cells.max())


def test_means_equal_mean_table_on_platform_sites():
    for well in ("A01", "C05"):
        segmentation, images = _render(192, well)
        fast = cpf.measure_cellprofiler_means(segmentation, images, PLATFORM_FAMILIES)
        _assert_same_means(fast, cpf.mean_table(cpf.measure_cellprofiler(segmentation, images, PLATFORM_FAMILIES)))


def test_means_with_all_nan_columns_and_empty_compartment(site):
    segmentation, images = site
    # nuclei fill the cells: no cytoplasm at all, so Count_Cytoplasm 0 and no Mean_Cytoplasm columns
    filled = SimpleNamespace(nuclei=segmentation.cells, cells=segmentation.cells,
                             cytoplasm=np.zeros_like(segmentation.cells))
    dark = {name: np.zeros_like(image) for name, image in images.items()}  # NaN centres of mass
    fast = cpf.measure_cellprofiler_means(filled, dark, PLATFORM_FAMILIES)
    reference = cpf.mean_table(cpf.measure_cellprofiler(filled, dark, PLATFORM_FAMILIES))
    assert fast.schema["Count_Cytoplasm"] == pl.Int64 and fast["Count_Cytoplasm"].to_list() == [0]
    _assert_same_means(fast.drop("Count_Cytoplasm"), reference)
    assert not any(c.startswith("Mean_Cytoplasm") for c in fast.columns)
    assert fast["Mean_Cells_Location_CenterMassIntensity_X_DNA"].is_null().all()


def test_means_of_a_site_without_objects(site):
    _, images = site
    empty = np.zeros(next(iter(images.values())).shape, np.int32)
    segmentation = SimpleNamespace(nuclei=empty, cells=empty, cytoplasm=empty)
    fast = cpf.measure_cellprofiler_means(segmentation, images, PLATFORM_FAMILIES)
    # a cell-less site is one row of zero counts (CellProfiler's Image.csv has Count_* = 0), no means
    assert fast.to_dicts() == [{"Count_Nuclei": 0, "Count_Cells": 0, "Count_Cytoplasm": 0}]
    assert fast.dtypes == [pl.Int64] * 3


def test_integer_and_contract_float_images_give_the_same_means(site):
    segmentation, images = site
    counts = images["DNA"]
    assert counts.dtype == np.uint16 and 0 < counts.mean() < 65535
    by_hand = counts / 65535.0  # CellProfiler's loading of uint16, computed here
    from_uint16 = cpf.measure_cellprofiler_means(segmentation, {"DNA": counts}, ("intensity", "texture"))
    from_float = cpf.measure_cellprofiler_means(segmentation, {"DNA": by_hand}, ("intensity", "texture"))
    _assert_same_means(from_uint16, from_float)
    assert 0 < from_uint16["Mean_Cells_Intensity_MeanIntensity_DNA"].item() <= 1


@pytest.mark.parametrize("value", [np.nan, -0.5])
def test_float_images_off_the_contract_name_the_channel(site, value):
    segmentation, images = site
    bad = images["DNA"].astype(np.float64)
    bad[0, 0] = value
    expected = r"^image 'DNA': 1 pixel\(s\) are NaN, infinite or negative, .*read_scaled_image"
    with pytest.raises(ValueError, match=expected):
        cpf.measure_cellprofiler_means(segmentation, {"DNA": bad}, ("intensity", "texture"))

"""Reality check: the classical segmenter on real HT29 cells against CellProfiler's own results.

Data: CellProfiler's ExampleHuman image and CellProfiler 4.0.6's measurements of it, copied into
``morph_assets_tests/data/example_human`` (see SOURCES.md there).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from morph_assets.lib.plates import read_image
from morph_assets.lib.segment import SegmentationSettings, SiteSegmentation, segment_site

DATA = Path(__file__).resolve().parents[2] / "data" / "example_human"
# CellProfiler's ExampleHuman settings: nuclei 8-80 px, minimum cross-entropy thresholds,
# the cell threshold lowered by a correction factor of 0.8.
SETTINGS = SegmentationSettings(
    nucleus_channel="DNA",
    cell_channel="cellbody",
    nucleus_diameter_range=(8.0, 80.0),
    threshold_method="minimum_cross_entropy",
    cell_threshold_method="minimum_cross_entropy",
    cell_threshold_correction=0.8,
)


@pytest.fixture(scope="module")
def images() -> dict[str, np.ndarray]:
    """The three channels scaled to [0, 1] as CellProfiler reads uint8 images."""
    names = ("DNA", "PH3", "cellbody")
    return {
        name: read_image(DATA / f"AS_09125_050116030001_D03f00d{index}.tif").astype(np.float32) / 255.0
        for index, name in enumerate(names)
    }


@pytest.fixture(scope="module")
def segmentation(images: dict[str, np.ndarray]) -> SiteSegmentation:
    return segment_site(images, "classical", SETTINGS)


def _per_object(labels: np.ndarray, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    areas = np.bincount(labels.ravel())[1:]
    sums = np.bincount(labels.ravel(), weights=image.ravel())[1:]
    return areas, sums / np.maximum(areas, 1)


def test_counts_match_cellprofiler(segmentation: SiteSegmentation) -> None:
    image = pl.read_csv(DATA / "Image.csv")
    reference = int(image["Count_Nuclei"][0])
    assert reference == int(image["Count_Cells"][0]) == 289
    # Measured: 282 objects against CellProfiler's 289 (-2.4 %).
    assert abs(segmentation.n_objects - reference) / reference < 0.10


@pytest.mark.parametrize(
    ("objects", "measured_area", "measured_intensity"),
    # Measured (ours vs CellProfiler): nuclei median area 121 vs 115 px, mean DNA 0.218 vs 0.218;
    # cells median area 411.5 vs 381 px, mean DNA 0.111 vs 0.111.
    [("Nuclei", 121.0, 0.218), ("Cells", 411.5, 0.111)],
)
def test_areas_and_intensities_match_cellprofiler(
    segmentation: SiteSegmentation,
    images: dict[str, np.ndarray],
    objects: str,
    measured_area: float,
    measured_intensity: float,
) -> None:
    reference = pl.read_csv(DATA / f"{objects}.csv")
    labels = segmentation.nuclei if objects == "Nuclei" else segmentation.cells
    areas, intensities = _per_object(labels, images["DNA"])
    cp_area = float(reference["AreaShape_Area"].median())
    cp_intensity = float(reference["Intensity_MeanIntensity_DNA"].mean())
    assert np.median(areas) == pytest.approx(cp_area, rel=0.15)
    assert intensities.mean() == pytest.approx(cp_intensity, rel=0.05)
    assert np.median(areas) == pytest.approx(measured_area, rel=0.01)  # no silent drift
    assert intensities.mean() == pytest.approx(measured_intensity, abs=0.002)


def test_cellprofiler_nuclei_are_found_where_cellprofiler_put_them(segmentation: SiteSegmentation) -> None:
    reference = pl.read_csv(DATA / "Nuclei.csv")
    rows = np.clip(np.rint(reference["Location_Center_Y"].to_numpy()).astype(int), 0, 511)
    cols = np.clip(np.rint(reference["Location_Center_X"].to_numpy()).astype(int), 0, 511)
    hit_labels = segmentation.nuclei[rows, cols]
    found = hit_labels > 0
    # Most CellProfiler nucleus centres fall inside one of our nuclei, each a different one.
    assert found.mean() > 0.9
    assert len(np.unique(hit_labels[found])) > 0.9 * found.sum()

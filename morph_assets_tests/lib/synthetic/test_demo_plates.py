"""The demo's plates (the generator's defaults) image several sites per well, as the study's plates do."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from morph_assets.lib.plates import read_plate, read_plate_layout
from morph_assets.lib.profiles import annotate, image_features, plate_profiles
from morph_assets.lib.synthetic import SyntheticConfig, generate_plate
from morph_assets.lib.tasks import measure_images
from morph_assets_tests.conftest import SMALL_WELLS


def test_the_demo_plates_have_several_sites_per_well() -> None:
    demo = SyntheticConfig()  # what `morph-assets demo` generates without options
    assert demo.sites_per_well >= 2
    # About the pixels of the former single 192 px site, so a well costs what it did.
    assert 0.9 < demo.sites_per_well * demo.image_size**2 / 192**2 < 1.1
    # Cells keep their size: the smaller sites still hold a few diameters across.
    assert demo.image_size >= 4 * demo.cell_diameter_px


def test_image_and_well_profiles_differ_on_a_demo_plate(tmp_path: Path) -> None:
    config = replace(SyntheticConfig(), n_plates=1, wells=SMALL_WELLS)  # the demo's geometry, four wells
    folder = generate_plate(config, 0, tmp_path)
    index = read_plate(folder)
    raw = measure_images(index.images.to_dicts())
    per_image = annotate(image_features("pixel_statistics", raw), read_plate_layout(folder))
    image = plate_profiles(per_image, level="image", normalizations=("none",))
    well = plate_profiles(per_image, level="well", normalizations=("none",))
    assert image.height == len(SMALL_WELLS) * config.sites_per_well
    assert well.height == len(SMALL_WELLS) < image.height
    assert well["Metadata_n_rows"].to_list() == [config.sites_per_well] * len(SMALL_WELLS)

"""Tests of the synthetic CPJUMP1-shaped plate writer: sites, plate folders, illumination (small images, few wells)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import tifffile

from morph_assets.lib.plates import format_image_name, parse_image_name
from morph_assets.lib.synthetic import (
    COMPLETE_MARKER,
    SyntheticConfig,
    compound_phenotypes,
    generate_plate,
    generate_plates,
    illumination_field,
    render_site,
)

SMALL = {"image_size": 64, "cell_diameter_px": 16.0, "sites_per_well": 1, "n_plates": 2}


def test_render_site_is_deterministic_and_independent_of_the_wells_subset() -> None:
    config = SyntheticConfig(wells=("B03", "C07"), **SMALL)
    larger = SyntheticConfig(wells=None, **SMALL)
    first = render_site(config, 1, "C07", 1)
    again = render_site(config, 1, "C07", 1)
    from_larger = render_site(larger, 1, "C07", 1)
    for other in (again, from_larger):
        np.testing.assert_array_equal(first.images, other.images)
        np.testing.assert_array_equal(first.nuclei_labels, other.nuclei_labels)
        np.testing.assert_array_equal(first.cell_labels, other.cell_labels)
    different_seed = render_site(SyntheticConfig(wells=("C07",), **{**SMALL, "seed": 1}), 1, "C07", 1)
    assert not np.array_equal(first.images, different_seed.images)
    other_plate = render_site(config, 0, "C07", 1)
    assert not np.array_equal(first.images, other_plate.images)


def test_plate_folder_contract(tmp_path: Path) -> None:
    config = SyntheticConfig(wells=("A02", "H12"), include_brightfield=True, **{**SMALL, "sites_per_well": 2})
    calls: list[tuple[int, int]] = []
    folder = generate_plate(config, 1, tmp_path, progress=lambda done, total: calls.append((done, total)))
    assert folder == tmp_path / "SYNJT0002"
    assert calls == [(1, 2), (2, 2)]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["SYNJT0002"]
    assert (folder / COMPLETE_MARKER).is_file()

    images = sorted((folder / "Images").iterdir())
    assert len(images) == 2 * 2 * 8
    parsed = {(name.well, name.site, name.channel) for name in (parse_image_name(p.name) for p in images)}
    assert parsed == {(w, s, c) for w in ("A02", "H12") for s in (1, 2) for c in range(1, 9)}
    image = tifffile.imread(folder / "Images" / format_image_name("H12", 2, 5))
    assert image.dtype == np.uint16 and image.shape == (64, 64)
    np.testing.assert_array_equal(image, render_site(config, 1, "H12", 2).images[4])

    truth = folder / "GroundTruth"
    nuclei = tifffile.imread(truth / "r08c12f02p01-nuclei.tiff")
    cells = tifffile.imread(truth / "r08c12f02p01-cells.tiff")
    assert nuclei.shape == cells.shape == (64, 64)
    with tifffile.TiffFile(truth / "r08c12f02p01-cells.tiff") as tiff:
        assert tiff.pages[0].compression == 8  # zlib / Adobe deflate
    for channel in range(1, 6):
        flat = tifffile.imread(truth / f"illumination-ch{channel}.tiff")
        assert flat.dtype == np.float32 and flat.shape == (64, 64)
    assert not (truth / "illumination-ch6.tiff").exists()
    phenotypes = pl.read_csv(truth / "compound_phenotypes.tsv", separator="\t")
    assert phenotypes.height == compound_phenotypes(config).height

    platemap = pl.read_csv(folder / "platemap.tsv", separator="\t")
    assert platemap.height == 384
    assert (folder / "compound_metadata.tsv").is_file()
    description = json.loads((folder / "plate.json").read_text())
    assert description["barcode"] == "SYNJT0002"
    assert description["plate_map_name"] == "JUMP-Target-1_compound_platemap"
    assert description["channels"]["5"] == "DNA" and len(description["channels"]) == 8
    assert description["generator"]["plate_index"] == 1
    assert description["generator"]["wells"] == ["A02", "H12"]
    assert description["sites_per_well"] == 2 and description["image_size"] == 64

    with pytest.raises(FileExistsError):
        generate_plate(config, 1, tmp_path)


def test_generate_plates_skips_complete_plates_and_parallel_output_matches(tmp_path: Path) -> None:
    config = SyntheticConfig(wells=("C03", "J20"), **SMALL)
    serial = generate_plates(config, tmp_path / "serial")
    marker_times = [(folder / COMPLETE_MARKER).stat().st_mtime_ns for folder in serial]
    calls: list[tuple[int, int]] = []
    assert generate_plates(config, tmp_path / "serial", progress=lambda *a: calls.append(a)) == serial
    assert calls == []
    assert [(folder / COMPLETE_MARKER).stat().st_mtime_ns for folder in serial] == marker_times

    parallel = generate_plates(config, tmp_path / "parallel", workers=2)
    for left, right in zip(serial, parallel):
        for image in (left / "Images").iterdir():
            assert image.read_bytes() == (right / "Images" / image.name).read_bytes()

    (tmp_path / "broken" / "SYNJT0001").mkdir(parents=True)
    with pytest.raises(FileExistsError):
        generate_plates(config, tmp_path / "broken")


def test_wells_subset_files_are_byte_identical_to_the_larger_plate(tmp_path: Path) -> None:
    subset = generate_plate(SyntheticConfig(wells=("B02",), **SMALL), 0, tmp_path / "subset")
    larger = generate_plate(SyntheticConfig(wells=("A01", "B02", "P24"), **SMALL), 0, tmp_path / "larger")
    names = sorted(path.name for path in (subset / "Images").iterdir())
    assert len(names) == 5
    for name in names:
        assert (subset / "Images" / name).read_bytes() == (larger / "Images" / name).read_bytes()


def test_illumination_field_is_a_smooth_mean_one_flat_field() -> None:
    config = SyntheticConfig(image_size=128)
    flat = illumination_field(config, 0, 2)
    assert flat.dtype == np.float32 and flat.shape == (128, 128)
    assert flat.mean() == pytest.approx(1.0, abs=1e-5)
    assert 0.05 < flat.max() - flat.min() < 0.8
    assert np.abs(np.diff(flat, axis=0)).max() < 0.02
    assert not np.allclose(flat, illumination_field(config, 1, 2))
    assert not np.allclose(flat, illumination_field(config, 0, 3))

"""Tests of the synthetic CPJUMP1-shaped plate generator (small images, few wells)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import tifffile

from morph_assets.lib.plates import WELLS_384, embedded_layout, format_image_name, parse_image_name, well_to_row_col
from morph_assets.lib.synthetic import (
    COMPLETE_MARKER,
    N_PROGRAMS,
    SyntheticConfig,
    compound_phenotypes,
    generate_plate,
    generate_plates,
    illumination_field,
    render_site,
)

SMALL = {"image_size": 64, "cell_diameter_px": 16.0, "sites_per_well": 1, "n_plates": 2}
TRUE_COLUMNS = [f"true_{k}" for k in range(N_PROGRAMS)]


def _layout_wells(control_type: str) -> list[str]:
    layout = embedded_layout()
    return layout.filter(pl.col("Metadata_control_type") == control_type)["Metadata_Well"].to_list()


def _ring(well: str) -> int:
    row, col = well_to_row_col(well)
    return min(row - 1, 16 - row, col - 1, 24 - col)


def _nucleus_means(config: SyntheticConfig, plate_index: int, well: str) -> np.ndarray:
    """Mean background-subtracted signal inside nuclei for each fluorescence channel."""
    site = render_site(config, plate_index, well, 1)
    nuclei = site.nuclei_labels > 0
    background = np.median(site.images[:, site.cell_labels == 0], axis=1)
    return site.images[:5, nuclei].mean(axis=1) - background[:5]


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


def test_render_site_shapes_and_dynamic_range() -> None:
    config = SyntheticConfig(wells=("D05",), include_brightfield=True, image_size=96, cell_diameter_px=24.0, sites_per_well=2)
    site = render_site(config, 0, "D05", 2)
    assert site.images.dtype == np.uint16
    assert site.images.shape == (8, 96, 96)
    assert site.channels == (1, 2, 3, 4, 5, 6, 7, 8)
    assert site.nuclei_labels.shape == site.cell_labels.shape == (96, 96)
    assert site.cell_labels.dtype in (np.uint16, np.uint32)
    background = np.median(site.images[:5, site.cell_labels == 0], axis=1)
    assert np.all((background > 150) & (background < 800))
    assert site.images[4][site.nuclei_labels > 0].mean() > 3 * background[4]
    assert (site.images == np.iinfo(np.uint16).max).mean() < 1e-3


def test_masks_nest_and_are_consecutive() -> None:
    config = SyntheticConfig(image_size=96, cell_diameter_px=22.0, sites_per_well=2)
    for plate_index, well, site_number in ((0, "A01", 1), (1, "H12", 2), (2, "P24", 1), (3, "E05", 2)):
        site = render_site(config, plate_index, well, site_number)
        cells, nuclei = site.cell_labels.astype(np.int64), site.nuclei_labels.astype(np.int64)
        n_cells = int(cells.max())
        assert n_cells > 3
        assert set(np.unique(cells)) == set(range(n_cells + 1))
        assert set(np.unique(nuclei)) == set(range(n_cells + 1))
        inside = nuclei > 0
        np.testing.assert_array_equal(cells[inside], nuclei[inside])
        nucleus_area = np.bincount(nuclei.ravel(), minlength=n_cells + 1)[1:]
        cell_area = np.bincount(cells.ravel(), minlength=n_cells + 1)[1:]
        assert np.all(cell_area > nucleus_area)


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


def test_phenotype_structure() -> None:
    table = compound_phenotypes(SyntheticConfig())
    assert table.height == 307  # 306 compounds + DMSO
    assert table["Metadata_broad_sample"].null_count() == 1
    vectors = table.select(TRUE_COLUMNS).to_numpy()
    activity = table["activity"].to_numpy()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), activity, atol=1e-9)

    dmso = (table["Metadata_pert_iname"] == "DMSO").to_numpy()
    assert activity[dmso].item() == 0.0 and table["phenotype_group"].to_numpy()[dmso].item() == "DMSO"
    inactive = (activity == 0) & ~dmso
    assert 0.25 < inactive.mean() < 0.55
    assert set(table["phenotype_group"].to_numpy()[inactive]) == {"inactive"}

    control = table["Metadata_control_type"].fill_null("trt").to_numpy()
    poscon = np.isin(control, ["poscon_cp", "poscon_orf", "poscon_diverse"])
    treatment = control == "trt"
    assert activity[poscon].mean() > 2 * activity[treatment].mean()
    assert np.all(activity[poscon] > 0)

    active = np.flatnonzero(activity > 0)
    unit = vectors[active] / activity[active, None]
    targets = [set((t or "").split("|")) - {""} for t in table["Metadata_target_list"].to_numpy()[active]]
    groups = table["phenotype_group"].to_numpy()[active]
    share, same_group, other = [], [], []
    for i in range(len(active)):
        for j in range(i + 1, len(active)):
            cosine = unit[i] @ unit[j]
            (share if targets[i] & targets[j] else other).append(cosine)
            if groups[i] == groups[j]:
                same_group.append(cosine)
    assert len(share) > 30 and len(same_group) > 10
    # Sharing one of many targets pulls directions together a little; the same dominant target a lot.
    assert np.mean(share) > np.mean(other) + 0.1
    assert np.mean(same_group) > np.mean(other) + 0.4
    assert abs(np.mean(other)) < 0.15


def test_phenotypes_do_not_depend_on_wells_or_size_but_on_seed() -> None:
    base = compound_phenotypes(SyntheticConfig())
    assert base.equals(compound_phenotypes(SyntheticConfig(wells=("A01",), image_size=64, cell_diameter_px=16.0)))
    assert not base.equals(compound_phenotypes(SyntheticConfig(seed=3)))


def test_illumination_field_is_a_smooth_mean_one_flat_field() -> None:
    config = SyntheticConfig(image_size=128)
    flat = illumination_field(config, 0, 2)
    assert flat.dtype == np.float32 and flat.shape == (128, 128)
    assert flat.mean() == pytest.approx(1.0, abs=1e-5)
    assert 0.05 < flat.max() - flat.min() < 0.8
    assert np.abs(np.diff(flat, axis=0)).max() < 0.02
    assert not np.allclose(flat, illumination_field(config, 1, 2))
    assert not np.allclose(flat, illumination_field(config, 0, 3))


def test_edge_effect_and_plate_gain_are_in_the_pixels() -> None:
    config = SyntheticConfig(image_size=96, cell_diameter_px=22.0, sites_per_well=1)
    dmso = _layout_wells("negcon")
    edge = [well for well in dmso if _ring(well) == 0]
    centre = [well for well in dmso if _ring(well) >= 3][:14]
    assert len(edge) >= 6
    per_plate = {
        plate: {well: _nucleus_means(config, plate, well) for well in edge + centre} for plate in (0, 1)
    }
    # Position effect: the same on both replicate plates, edge nuclei brighter in DNA.
    for plate in (0, 1):
        edge_dna = np.mean([per_plate[plate][well][4] for well in edge])
        centre_dna = np.mean([per_plate[plate][well][4] for well in centre])
        assert edge_dna > 1.04 * centre_dna
    # Plate effect: some channel is consistently brighter on one plate, beyond well noise.
    ratios = np.log([per_plate[1][well] / per_plate[0][well] for well in edge + centre])
    t_stat = ratios.mean(axis=0) / (ratios.std(axis=0, ddof=1) / np.sqrt(len(ratios)))
    assert np.abs(t_stat).max() > 6
    assert np.abs(ratios.mean(axis=0)).max() > 0.05


def _site_profile(config: SyntheticConfig, plate_index: int, well: str, site: int) -> np.ndarray:
    rendered = render_site(config, plate_index, well, site)
    cells = rendered.cell_labels > 0
    background = np.median(rendered.images[:, ~cells], axis=1)
    means = rendered.images[:, cells].mean(axis=1) - background
    return np.concatenate([[np.log(rendered.cell_labels.max() + 1.0)], np.log(np.maximum(means, 1.0))])


def test_strong_compound_changes_image_statistics_beyond_dmso_variation() -> None:
    config = SyntheticConfig(image_size=96, cell_diameter_px=22.0, sites_per_well=2)
    table = compound_phenotypes(config)
    strongest = table.filter(pl.col("Metadata_control_type").is_not_null() & (pl.col("activity") > 0))
    strongest = strongest.sort("activity", descending=True)["Metadata_broad_sample"][0]
    layout = embedded_layout()
    compound_wells = layout.filter(pl.col("Metadata_broad_sample") == strongest)["Metadata_Well"].to_list()
    dmso_wells = [well for well in _layout_wells("negcon") if _ring(well) >= 2][:16]

    def well_profile(well: str) -> np.ndarray:
        return np.mean([_site_profile(config, 0, well, site) for site in (1, 2)], axis=0)

    dmso = np.array([well_profile(well) for well in dmso_wells])
    reference, held_out = dmso[:-2], dmso[-2:]
    spread = reference.std(axis=0, ddof=1)
    compound_z = np.abs((np.array([well_profile(w) for w in compound_wells]) - reference.mean(0)) / spread)
    held_out_z = np.abs((held_out - reference.mean(0)) / spread)
    assert compound_z.max(axis=1).min() > 4
    assert held_out_z.max() < compound_z.max(axis=1).min()


def test_config_validation_and_barcodes() -> None:
    config = SyntheticConfig(n_plates=3, wells=("a1", "P24"))
    assert config.wells == ("A01", "P24")
    assert config.barcodes() == ["SYNJT0001", "SYNJT0002", "SYNJT0003"]
    full = SyntheticConfig.full_size(seed=5)
    assert (full.image_size, full.sites_per_well, full.include_brightfield, full.seed) == (1080, 9, True, 5)
    assert full.cell_diameter_px >= 50
    assert SyntheticConfig().selected_wells() == WELLS_384
    for bad in ({"wells": ("A01", "A1")}, {"barcode_prefix": "a/b"}, {"n_plates": 0}, {"image_size": 8}):
        with pytest.raises(ValueError):
            SyntheticConfig(**bad)  # type: ignore[arg-type]

"""Tests of the synthetic plates' phenotype model: compounds, position and plate effects, the config."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from morph_assets.lib.plates import WELLS_384, embedded_layout, well_to_row_col
from morph_assets.lib.synthetic import N_PROGRAMS, SyntheticConfig, compound_phenotypes, render_site

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

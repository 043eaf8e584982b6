"""Tests for ``morph_assets.lib.profiles``: per-image tables in one shape, annotated with the layout."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from morph_assets.lib.profiles import (
    IMAGE_KEYS,
    LAYOUT_COLUMNS,
    SOURCE_TABLES,
    annotate,
    image_features,
    pixel_statistics_table,
)

STATISTICS = ("mean", "std", "min", "max")


def _raw_images(seed: int = 0) -> tuple[pl.DataFrame, dict[tuple[int, str, str], float]]:
    """Two sites x two channels of one well, rows shuffled, plus the expected value of each cell."""
    rng = np.random.default_rng(seed)
    rows, expected = [], {}
    for site in (2, 1):  # unsorted on purpose: the output must be sorted by site
        for channel_index, channel in enumerate(("DNA", "Mito")):
            values = {stat: float(v) for stat, v in zip(STATISTICS, rng.uniform(0, 1000, 4), strict=True)}
            for stat, value in values.items():
                expected[(site, stat, channel)] = value
            rows.append({
                "Metadata_Plate": "P1", "Metadata_Well": "A01", "Metadata_Site": site,
                "channel": channel_index, "channel_name": channel, "path": f"s{site}_{channel}.tif",
                "height": 64, "width": 64, "dtype": "uint16",
                **{f"{stat}_intensity": value for stat, value in values.items()},
                "saturated_fraction": 0.0, "power_log_log_slope": -2.0,
            })
    order = rng.permutation(len(rows))
    return pl.DataFrame([rows[i] for i in order]), expected


def test_pixel_statistics_pivot_values() -> None:
    raw, expected = _raw_images()
    table = pixel_statistics_table(raw)
    features = [c for c in table.columns if c not in IMAGE_KEYS]
    assert table.columns[:3] == list(IMAGE_KEYS)
    assert sorted(features) == sorted(f"Pixel_{stat}_{ch}" for stat in STATISTICS for ch in ("DNA", "Mito"))
    assert table.height == 2
    assert table["Metadata_Site"].to_list() == [1, 2]
    for row in table.iter_rows(named=True):
        for stat in STATISTICS:
            for channel in ("DNA", "Mito"):
                assert row[f"Pixel_{stat}_{channel}"] == expected[(row["Metadata_Site"], stat, channel)]
    # other raw_images columns (path, saturation, ...) are not features of the baseline
    assert not any("saturated" in c or "path" in c for c in table.columns)


def test_pixel_statistics_missing_column_raises() -> None:
    raw, _ = _raw_images()
    with pytest.raises(ValueError, match="std_intensity"):
        pixel_statistics_table(raw.drop("std_intensity"))


def test_image_features_pixel_statistics_dispatch() -> None:
    raw, _ = _raw_images()
    assert image_features("pixel_statistics", raw).equals(pixel_statistics_table(raw))


def _regionprops() -> pl.DataFrame:
    return pl.DataFrame({
        "Metadata_Plate": ["P1", "P1", "P1"],
        "Metadata_Well": ["B02", "A01", "A01"],
        "Metadata_Site": [1, 2, 1],
        "Metadata_Source": ["x", "y", "z"],  # metadata other than the keys is dropped
        "ImageNumber": [3, 2, 1],
        "ObjectNumber": [1, 1, 1],
        "path": ["a", "b", "c"],  # non-numeric: not a feature
        "area_mean": [10.0, 20.0, 30.0],
        "count": [4, 5, 6],
    })


@pytest.mark.parametrize("representation", ["regionprops", "cellprofiler", "vae"])
def test_image_features_keeps_keys_and_numeric_features(representation: str) -> None:
    out = image_features(representation, _regionprops())
    assert out.columns == [*IMAGE_KEYS, "area_mean", "count"]
    assert out.select(IMAGE_KEYS).rows() == [("P1", "A01", 1), ("P1", "A01", 2), ("P1", "B02", 1)]
    assert out["area_mean"].to_list() == [30.0, 20.0, 10.0]


def test_image_features_bad_input_raises() -> None:
    with pytest.raises(ValueError, match="unknown representation"):
        image_features("dinov2", _regionprops())
    with pytest.raises(ValueError, match="Metadata_Site"):
        image_features("regionprops", _regionprops().drop("Metadata_Site"))
    assert set(SOURCE_TABLES) == {"pixel_statistics", "regionprops", "cellprofiler", "vae", "crop_cnn"}


def _layout(wells: list[str]) -> pl.DataFrame:
    return pl.DataFrame({
        "Metadata_Plate": ["P1"] * len(wells),
        "Metadata_Well": wells,
        "Metadata_broad_sample": [None if w == "A01" else f"BRD-{w}" for w in wells],
        "Metadata_pert_iname": ["DMSO" if w == "A01" else f"cpd-{w}" for w in wells],
        "Metadata_target_list": [None if w == "A01" else "EGFR" for w in wells],
        "Metadata_pert_type": ["control" if w == "A01" else "trt" for w in wells],
        "Metadata_control_type": ["negcon" if w == "A01" else None for w in wells],
        "Metadata_unrelated": ["u"] * len(wells),  # layout columns outside LAYOUT_COLUMNS stay out
    })


def test_annotate_joins_layout_columns() -> None:
    per_image = image_features("regionprops", _regionprops())
    out = annotate(per_image, _layout(["A01", "B02", "C03"]))
    assert out.columns == [*IMAGE_KEYS, *LAYOUT_COLUMNS, "area_mean", "count"]
    assert out.height == per_image.height
    by_well = {row["Metadata_Well"]: row for row in out.iter_rows(named=True)}
    assert by_well["A01"]["Metadata_pert_iname"] == "DMSO"
    assert by_well["A01"]["Metadata_control_type"] == "negcon"
    assert by_well["B02"]["Metadata_broad_sample"] == "BRD-B02"
    assert by_well["B02"]["area_mean"] == 10.0
    assert out.drop(LAYOUT_COLUMNS).equals(per_image)


def test_annotate_missing_well_raises_with_examples() -> None:
    per_image = image_features("regionprops", _regionprops())
    with pytest.raises(ValueError, match=r"2 rows .*\('P1', 'A01'\)"):
        annotate(per_image, _layout(["B02"]))
    # a well of another plate with the same name does not count
    other_plate = _layout(["A01", "B02"]).with_columns(pl.lit("P2").alias("Metadata_Plate"))
    with pytest.raises(ValueError, match="no perturbation"):
        annotate(per_image, other_plate)


def test_annotate_rejects_a_layout_listing_a_well_twice() -> None:
    per_image = pl.DataFrame({"Metadata_Plate": ["P1"], "Metadata_Well": ["A01"], "Metadata_Site": [1], "x": [1.0]})
    layout = pl.DataFrame({"Metadata_Plate": ["P1", "P1"], "Metadata_Well": ["A01", "A01"],
                           "Metadata_pert_iname": ["a", "b"], "Metadata_control_type": [None, None]})
    with pytest.raises(ValueError, match="twice"):
        annotate(per_image, layout)

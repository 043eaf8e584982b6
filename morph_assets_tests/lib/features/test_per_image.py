"""The one per-object to per-image aggregation: keys, counts, and means that skip what they are told."""

from __future__ import annotations

import math

import polars as pl
import pytest

from morph_assets.lib.features import image_keys_and_features, per_image_means


def _objects() -> pl.DataFrame:
    return pl.DataFrame({
        "Metadata_Site": [2, 1, 2, 1],
        "ObjectNumber": [1, 1, 2, 2],
        "x": [1.0, 2.0, float("nan"), 4.0],
        "y": [1.0, float("inf"), 3.0, 5.0],
        "name": ["a", "b", "c", "d"],
    })


def test_keys_and_features_are_told_apart() -> None:
    assert image_keys_and_features(_objects()) == (["Metadata_Site"], ["x", "y"])
    # explicit keys: a numeric Metadata_ column left out of them is a feature; ObjectNumber never is
    assert image_keys_and_features(_objects(), by=[]) == ([], ["Metadata_Site", "x", "y"])


@pytest.mark.parametrize(
    ("skip", "x_site_2", "y_site_1"),
    [("null", math.nan, math.inf), ("nan", 1.0, math.inf), ("non-finite", 1.0, 5.0)],
)
def test_means_skip_what_they_are_told(skip: str, x_site_2: float, y_site_1: float) -> None:
    count = pl.len().cast(pl.Int64).alias("Count_Objects")
    table = per_image_means(_objects(), ["Metadata_Site"], ["x", "y"], counts=[count], skip=skip)
    assert table.columns == ["Metadata_Site", "Count_Objects", "Mean_x", "Mean_y"]
    assert table["Metadata_Site"].to_list() == [1, 2]  # in key order
    assert table["Count_Objects"].to_list() == [2, 2]
    assert table["Mean_x"][0] == 3.0
    assert table["Mean_x"][1] == pytest.approx(x_site_2, nan_ok=True)
    assert table["Mean_y"][0] == y_site_1


def test_without_keys_the_table_is_one_image_even_when_empty() -> None:
    table = per_image_means(_objects().clear(), [], ["x"], counts=[pl.len().alias("n")], prefix="Mean_Cells_")
    assert table.to_dicts() == [{"n": 0, "Mean_Cells_x": None}]


def test_unknown_skip_is_refused() -> None:
    with pytest.raises(ValueError, match="skip"):
        per_image_means(_objects(), [], ["x"], skip="inf")

"""Tests for aggregation in ``morph_assets.lib.profiles``: feature columns and well medians."""

from __future__ import annotations

import polars as pl
import pytest

from morph_assets.lib import profiles as pr


def test_feature_columns(compound: pl.DataFrame, features: list[str]) -> None:
    assert len(features) == 454
    assert all(not f.startswith("Metadata_") for f in features)
    assert "Metadata_mg_per_ml" not in features


def test_aggregate_wells() -> None:
    frame = pl.DataFrame({
        "Metadata_Plate": ["p"] * 5,
        "Metadata_Well": ["A01", "A01", "A01", "A02", "A02"],
        "Metadata_Site": [1, 2, 3, 1, 2],
        "Metadata_control_type": ["negcon"] * 3 + ["trt"] * 2,
        "Count_Cells": [10, 20, 30, 5, 7],
        "f": [1.0, 5.0, 2.0, 4.0, None],
    })
    out = pr.aggregate_wells(frame)
    assert out.columns == [
        "Metadata_Plate", "Metadata_Well", "Metadata_control_type", "Metadata_n_rows",
        "Metadata_Count_Cells", "Count_Cells", "f",
    ]
    assert out["Metadata_n_rows"].to_list() == [3, 2]
    assert out["Metadata_Count_Cells"].to_list() == [60, 12]
    assert out["f"].to_list() == [2.0, 4.0]
    assert pr.aggregate_wells(frame, method="mean")["f"].to_list() == pytest.approx([8 / 3, 4.0])

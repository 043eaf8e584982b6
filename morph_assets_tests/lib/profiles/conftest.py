"""Fixtures of the profile tests: the cytominer-eval compound plate, split in two pseudo-plates."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from morph_assets.lib import profiles as pr
from morph_assets_tests.lib.profiles.reference import COMPOUND


@pytest.fixture(scope="module")
def compound() -> pl.DataFrame:
    """The compound plate split in two pseudo-plates (rows 0-127, 128-383), each with DMSO wells."""
    frame = pl.read_csv(COMPOUND, infer_schema_length=None)
    plate = pl.when(pl.int_range(pl.len()) < 128).then(pl.lit("P1")).otherwise(pl.lit("P2"))
    return frame.with_columns(plate.alias("Metadata_Plate"))


@pytest.fixture(scope="module")
def features(compound: pl.DataFrame) -> list[str]:
    return pr.feature_columns(compound)


@pytest.fixture(scope="module")
def with_missing(compound: pl.DataFrame, features: list[str]) -> pl.DataFrame:
    """The compound plate with values missing in 30 features (15 above the 5% NA cutoff)."""
    rng = np.random.default_rng(11)
    x = compound.select(features).to_numpy().copy()
    cols = rng.choice(len(features), 30, replace=False)
    for k, col in enumerate(cols):
        rows = rng.choice(x.shape[0], 4 if k % 2 else 30, replace=False)
        x[rows, col] = np.nan
    return compound.with_columns(pl.DataFrame(x, schema=features).get_columns())

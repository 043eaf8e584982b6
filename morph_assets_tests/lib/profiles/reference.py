"""The real Cell Painting profiles the profile tests compare with pycytominer on, and pycytominer's calls.

Data (copied into ``morph_assets_tests/data``, see the SOURCES.md there): one compound plate of
cytominer-eval (384 wells x 454 features, 24 DMSO wells) and one pycytominer collate output
(2 wells x 5,790 CellProfiler features).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import polars as pl
import pytest

DATA = Path(__file__).resolve().parents[2] / "data"
COMPOUND = DATA / "cytominer_eval" / "SQ00015054_normalized_feature_select.csv.gz"
COLLATE = DATA / "pycytominer" / "BR00121431_main.csv"
NEGCON = pl.col("Metadata_broad_sample_type") == "control"


def to_pandas(frame: pl.DataFrame) -> pd.DataFrame:
    return frame.to_pandas()


def pyc_normalize(frame: pl.DataFrame, features: list[str], method: str) -> pd.DataFrame:
    pycytominer = pytest.importorskip("pycytominer")
    data = to_pandas(frame)
    meta = [c for c in data.columns if c not in features]
    parts = [
        pycytominer.normalize(
            group, features=features, meta_features=meta, method=method,
            samples="Metadata_broad_sample_type == 'control'",
        )
        for _, group in data.groupby("Metadata_Plate", sort=False)
    ]
    return pd.concat(parts).loc[data.index]

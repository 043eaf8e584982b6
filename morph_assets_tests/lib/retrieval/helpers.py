"""Helpers the retrieval tests share: copairs 0.5.5's AP as the reference, a small three-group case."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

copairs_map = pytest.importorskip("copairs.map")


def _copairs_ap(meta: pl.DataFrame, feats: np.ndarray, **rules) -> pl.DataFrame:
    rules = {k: list(rules.get(k, ())) for k in ("pos_sameby", "pos_diffby", "neg_sameby", "neg_diffby")}
    out = copairs_map.average_precision(
        meta.to_pandas(), feats, batch_size=20000, progress_bar=False, **rules
    )
    return pl.from_pandas(out[["average_precision", "n_pos_pairs", "n_total_pairs"]])


def _three_groups(seed: int = 5) -> tuple[pl.DataFrame, np.ndarray]:
    """Two compounds of three replicates and four controls (one group), random features."""
    rng = np.random.default_rng(seed)
    meta = pl.DataFrame({"cpd": ["a", "a", "a", "b", "b", "b", "ctl", "ctl", "ctl", "ctl"],
                         "ctrl": [False] * 6 + [True] * 4})
    return meta, rng.normal(size=(meta.height, 6))

"""Tests for per-plate normalisation in ``morph_assets.lib.profiles`` against pycytominer 1.7."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from morph_assets.lib import profiles as pr
from morph_assets_tests.lib.profiles.reference import NEGCON, pyc_normalize

pytest.importorskip("pycytominer")


@pytest.mark.parametrize("method", ["mad_robustize", "robustize", "standardize"])
def test_normalize_matches_pycytominer(
    compound: pl.DataFrame, features: list[str], method: str
) -> None:
    ours = pr.normalize(compound, features=features, method=method, control_query=NEGCON)
    theirs = pyc_normalize(compound, features, method)
    np.testing.assert_allclose(
        ours.select(features).to_numpy(), theirs[features].to_numpy(), rtol=1e-9, atol=1e-12
    )
    assert ours.columns == compound.columns
    assert ours.drop(features).equals(compound.drop(features))


def test_normalize_with_missing_values(with_missing: pl.DataFrame, features: list[str]) -> None:
    ours = pr.normalize(with_missing, features=features, control_query=NEGCON)
    theirs = pyc_normalize(with_missing, features, "mad_robustize")
    np.testing.assert_allclose(
        ours.select(features).to_numpy(), theirs[features].to_numpy(), rtol=1e-9, atol=1e-12
    )


def test_normalize_hand_checked() -> None:
    frame = pl.DataFrame({
        "Metadata_Plate": ["a"] * 4 + ["b"] * 3,
        "Metadata_control_type": ["negcon", "negcon", "negcon", "trt", "negcon", "negcon", "trt"],
        "f": [1.0, 2.0, 4.0, 10.0, 5.0, 5.0, 6.0],
    })
    out = pr.normalize(frame, epsilon=0.0)["f"].to_list()
    # plate a: median 2, MAD median(|1-2|, 0, 2) = 1 -> scale 1.4826
    assert out[:4] == pytest.approx([-1 / 1.4826, 0.0, 2 / 1.4826, 8 / 1.4826])
    std = pr.normalize(frame, method="standardize")["f"].to_list()
    assert std[4:] == pytest.approx([0.0, 0.0, 1.0])  # constant controls scale by 1


def test_normalize_plate_without_controls_raises() -> None:
    frame = pl.DataFrame({
        "Metadata_Plate": ["a", "a", "b", "b"],
        "Metadata_control_type": ["negcon", "trt", "trt", "trt"],
        "f": [1.0, 2.0, 3.0, 4.0],
    })
    with pytest.raises(ValueError, match="'b'"):
        pr.normalize(frame)
    assert pr.normalize(frame, control_query=None)["f"].null_count() == 0


def test_rank_inverse_normal() -> None:
    from scipy.stats import norm

    frame = pl.DataFrame(
        {"Metadata_Well": ["A01", "A02", "A03", "A04", "A05"], "f": [3.0, 1.0, 2.0, 2.0, None]}
    )
    out = pr.rank_inverse_normal(frame)["f"].to_list()
    ranks = np.array([4.0, 1.0, 2.5, 2.5])
    expected = norm.ppf((ranks - 0.375) / (4 + 0.25))
    assert out[:4] == pytest.approx(expected.tolist())
    assert out[4] is None


def test_normalize_interleaved_plates_matches_pycytominer(
    compound: pl.DataFrame, features: list[str]
) -> None:
    # shuffled rows: the plates are no longer contiguous runs, so normalize permutes and restores rows
    shuffled = compound.sample(fraction=1.0, shuffle=True, seed=5)
    ours = pr.normalize(shuffled, features=features, control_query=NEGCON)
    theirs = pyc_normalize(shuffled, features, "mad_robustize")
    np.testing.assert_allclose(
        ours.select(features).to_numpy(), theirs[features].to_numpy(), rtol=1e-9, atol=1e-12
    )
    assert ours.drop(features).equals(shuffled.drop(features))

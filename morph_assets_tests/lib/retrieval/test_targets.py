"""Sister-compound retrieval against copairs 0.5.5's multilabel AP (reference) and a toy case by hand."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from morph_assets.lib.retrieval import UnpairedError, mean_average_precision
from morph_assets.lib.retrieval._targets import (
    TARGET,
    compound_rows,
    sister_average_precision,
    sister_compound_retrieval,
    target_sets,
)
from morph_assets.lib.schema import CONTROL_TYPE, TARGET_LIST, TREATMENT

multilabel = pytest.importorskip("copairs.map.multilabel")
copairs_map = pytest.importorskip("copairs.map")


def _random_compounds(seed: int, n: int = 40, n_genes: int = 9) -> tuple[pl.DataFrame, np.ndarray]:
    """Compounds with one to three of ``n_genes`` targets each and random features."""
    rng = np.random.default_rng(seed)
    genes = [f"G{i}" for i in range(n_genes)]
    lists = ["|".join(rng.choice(genes, size=int(rng.integers(1, 4)), replace=False)) for _ in range(n)]
    meta = pl.DataFrame({TREATMENT: [f"c{i:02d}" for i in range(n)], TARGET_LIST: lists})
    return meta, rng.normal(size=(n, 7))


def _copairs_multilabel(meta: pl.DataFrame, feats: np.ndarray) -> pl.DataFrame:
    frame = meta.to_pandas()
    frame[TARGET_LIST] = frame[TARGET_LIST].str.split("|")
    out = multilabel.average_precision(frame, feats, pos_sameby=[TARGET_LIST], pos_diffby=[], neg_sameby=[],
                                       neg_diffby=[TARGET_LIST], multilabel_col=TARGET_LIST, progress_bar=False)
    columns = [TREATMENT, TARGET_LIST, "average_precision", "normalized_average_precision", "n_pos_pairs",
               "n_total_pairs"]
    return pl.from_pandas(out[columns]).rename(
        {TARGET_LIST: TARGET}).with_columns(pl.col("n_pos_pairs", "n_total_pairs").cast(pl.Int64))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_per_query_ap_equals_copairs_multilabel(seed: int) -> None:
    meta, feats = _random_compounds(seed)
    if seed == 2:  # float32 near-ties: copairs ranks on float32 similarities, positives first
        feats[5] = feats[3] * (1 + 1e-9)
    ours = sister_average_precision(meta, feats)
    ref = _copairs_multilabel(meta, feats)
    # copairs gives one row per (compound, target it shares with another compound): the same rows.
    assert ours.height == ref.height
    joined = ours.join(ref, on=[TREATMENT, TARGET], how="inner", suffix="_ref")
    assert joined.height == ref.height
    np.testing.assert_allclose(joined["average_precision"], joined["average_precision_ref"], rtol=0, atol=1e-12)
    assert joined["n_pos_pairs"].to_list() == joined["n_pos_pairs_ref"].to_list()
    assert joined["n_total_pairs"].to_list() == joined["n_total_pairs_ref"].to_list()


def test_per_target_map_equals_copairs() -> None:
    meta, feats = _random_compounds(4)
    ours = mean_average_precision(sister_average_precision(meta, feats), [TARGET], null_size=500, seed=0)
    ref_ap = _copairs_multilabel(meta, feats).to_pandas()
    ref = pl.from_pandas(copairs_map.mean_average_precision(
        ref_ap, [TARGET], null_size=500, threshold=0.05, seed=0, progress_bar=False)).sort(TARGET)
    assert ours[TARGET].to_list() == ref[TARGET].to_list()
    np.testing.assert_allclose(ours["mean_average_precision"], ref["mean_average_precision"], atol=1e-12)
    np.testing.assert_allclose(ours["p_value"], ref["p_value"], atol=1e-12)
    np.testing.assert_allclose(ours["corrected_p_value"], ref["corrected_p_value"], atol=1e-12)


def test_toy_case_by_hand() -> None:
    # a and b share T1; c shares T2 with a; d shares nothing. Features on a circle, so cosine order is clear.
    meta = pl.DataFrame({TREATMENT: ["a", "b", "c", "d"], TARGET_LIST: ["T1|T2", "T1", "T2|T3", "T4"]})
    angle = np.deg2rad([0.0, 10.0, 100.0, 30.0])
    feats = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    ap = sister_average_precision(meta, feats)
    rows = {(r[TREATMENT], r[TARGET]): r for r in ap.iter_rows(named=True)}
    # T3 and T4 are held by one compound: no query. a has no negative but d (c shares T2, b shares T1).
    assert set(rows) == {("a", "T1"), ("b", "T1"), ("a", "T2"), ("c", "T2")}
    assert rows[("a", "T1")]["average_precision"] == 1.0  # b (10 deg) before d (30 deg)
    assert rows[("a", "T2")]["average_precision"] == 0.5  # d (30 deg) before c (100 deg)
    # c's negatives are b and d (neither holds T2 or T3): d (70 deg away), b (90), then a (100).
    assert rows[("c", "T2")]["average_precision"] == pytest.approx(1 / 3, abs=1e-15)
    assert rows[("b", "T1")]["average_precision"] == 1.0  # a (10 deg) before d (20 deg) and c (90 deg)
    assert rows[("b", "T1")]["n_total_pairs"] == 3 and rows[("a", "T2")]["n_total_pairs"] == 2


def test_controls_and_unannotated_rows_are_not_ranked() -> None:
    treatments = pl.DataFrame({
        TREATMENT: ["DMSO", "p", "a", "b", "c", "u"], CONTROL_TYPE: ["negcon", "poscon_cp", None, None, None, None],
        TARGET_LIST: [None, "T1", "T1", "T1", "T2", None], "f1": [1.0, 0.2, 0.3, 0.5, -1.0, 0.1],
        "f2": [0.0, 1.0, 1.0, 0.8, 0.2, 0.4]})
    assert compound_rows(treatments)[TREATMENT].to_list() == ["a", "b", "c"]
    ap, per_target = sister_compound_retrieval(treatments, ["f1", "f2"], null_size=100)
    assert sorted(ap[TREATMENT].to_list()) == ["a", "b"] and per_target[TARGET].to_list() == ["T1"]
    assert (ap["n_total_pairs"] == 2).all()  # the other T1 compound and c; not p, DMSO or u


def test_no_shared_target_raises_unpaired() -> None:
    meta = pl.DataFrame({TREATMENT: ["a", "b"], TARGET_LIST: ["T1", "T2"]})
    with pytest.raises(UnpairedError) as error:
        sister_average_precision(meta, np.eye(2))
    assert error.value.kind == "positive"


def test_target_sets_split_and_deduplicate() -> None:
    assert target_sets(pl.Series([" A|B|A ", None, "", "C"])) == [["A", "B"], [], [], ["C"]]

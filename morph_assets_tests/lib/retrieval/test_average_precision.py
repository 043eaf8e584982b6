"""AP / mAP against copairs 0.5.5 (reference), sklearn and scipy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.stats import false_discovery_control
from sklearn.metrics import average_precision_score

from morph_assets.lib.retrieval import (
    average_precision,
    benjamini_hochberg,
    fraction_retrieved,
    mean_average_precision,
)
from morph_assets_tests.lib.retrieval.helpers import _copairs_ap, _three_groups

copairs_map = pytest.importorskip("copairs.map")

LINCS = Path(__file__).parents[2] / "data" / "cytominer_eval" / "SQ00015054_normalized_feature_select.csv.gz"


def _assert_same_ap(meta: pl.DataFrame, feats: np.ndarray, **rules) -> pl.DataFrame:
    ours = average_precision(meta, feats, block_size=37, **rules)
    ref = _copairs_ap(meta, feats, **rules)
    assert ours["n_pos_pairs"].to_list() == ref["n_pos_pairs"].to_list()
    assert ours["n_total_pairs"].to_list() == ref["n_total_pairs"].to_list()
    a = ours["average_precision"].to_numpy()
    b = ref["average_precision"].to_numpy()
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_allclose(a[~np.isnan(a)], b[~np.isnan(b)], rtol=0, atol=1e-12)
    return ours


def _random(n: int = 300, d: int = 20, seed: int = 0, ties: bool = False):
    rng = np.random.default_rng(seed)
    meta = pl.DataFrame(
        {
            "cpd": rng.integers(0, 40, n).astype(str),
            "plate": rng.integers(0, 4, n),
            "well": rng.integers(0, 6, n),
            "ctrl": rng.random(n) < 0.15,
        }
    )
    feats = rng.normal(size=(n, d))
    if ties:  # exact duplicates give exactly tied similarities
        feats[1::3] = feats[0::3][: len(feats[1::3])]
        feats[::7] = feats[3]
    return meta, feats


CONFIGS = [
    dict(pos_sameby=["cpd"], neg_diffby=["cpd"]),
    dict(pos_sameby=["cpd"], pos_diffby=["plate"], neg_sameby=["plate"], neg_diffby=["cpd"]),
    dict(pos_sameby=["cpd", "well"], pos_diffby=["plate"], neg_diffby=["ctrl"]),
    dict(pos_sameby=["cpd"], neg_diffby=["cpd", "well"]),
    dict(pos_sameby=["plate"], neg_sameby=["well"]),  # overlapping pos/neg pairs
]


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("config", range(len(CONFIGS)))
def test_ap_equals_copairs_random(config: int, ties: bool) -> None:
    meta, feats = _random(seed=config, ties=ties)
    out = _assert_same_ap(meta, feats, **CONFIGS[config])
    if config == 2:  # some profiles have no positives there
        assert out["average_precision"].null_count() > 0


def test_ap_matches_sklearn_without_ties() -> None:
    rng = np.random.default_rng(3)
    feats = rng.normal(size=(12, 5))
    meta = pl.DataFrame({"g": [0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2]})
    out = average_precision(meta, feats, pos_sameby=["g"], neg_diffby=["g"])
    xn = feats / np.linalg.norm(feats, axis=1, keepdims=True)
    sims = xn @ xn.T
    for q in range(12):
        others = np.arange(12) != q
        y = (meta["g"].to_numpy() == meta["g"][q])[others]
        assert out["average_precision"][q] == pytest.approx(
            average_precision_score(y, sims[q, others]), abs=1e-12
        )


def test_unpaired_raises() -> None:
    meta = pl.DataFrame({"g": [0, 1, 2]})
    with pytest.raises(ValueError):
        average_precision(meta, np.eye(3), pos_sameby=["g"], neg_diffby=["g"])


@pytest.fixture(scope="module")
def lincs() -> pl.DataFrame:
    if not LINCS.exists():
        pytest.skip("LINCS plate not present")
    df = pl.read_csv(LINCS, infer_schema_length=10000)
    return df.with_columns(
        (pl.col("Metadata_broad_sample") == "DMSO").alias("is_ctrl"),
        pl.when(pl.col("Metadata_broad_sample") == "DMSO")
        .then(pl.int_range(pl.len(), dtype=pl.Int64))
        .otherwise(-1)
        .alias("ref"),
    )


def _lincs_feats(df: pl.DataFrame) -> tuple[pl.DataFrame, np.ndarray]:
    cols = [c for c in df.columns if not c.startswith("Metadata_") and c not in ("is_ctrl", "ref")]
    return df.drop(cols), df.select(cols).to_numpy().astype(np.float64)


def test_lincs_compound_retrieval_across_doses(lincs: pl.DataFrame) -> None:
    meta, feats = _lincs_feats(lincs)
    out = _assert_same_ap(
        meta,
        feats,
        pos_sameby=["Metadata_broad_sample", "ref"],
        pos_diffby=["Metadata_mmoles_per_liter"],
        neg_diffby=["is_ctrl"],
    )
    treated = out.filter(~pl.col("is_ctrl"))
    # 56 compounds at 6 doses (5 other doses each); 2 compounds at one dose only (no positives)
    assert (treated["n_pos_pairs"] == 5).sum() == 56 * 6
    assert (treated["n_pos_pairs"] == 0).sum() == 24
    assert treated["n_total_pairs"].max() == treated["n_pos_pairs"].max() + 24


def test_lincs_moa_retrieval_and_map(lincs: pl.DataFrame, tmp_path: Path) -> None:
    meta, feats = _lincs_feats(lincs.filter(pl.col("Metadata_moa").is_not_null()))
    rules = dict(
        pos_sameby=["Metadata_moa"], pos_diffby=["Metadata_broad_sample"], neg_diffby=["Metadata_moa"]
    )
    ours = _assert_same_ap(meta, feats, **rules)
    ref = copairs_map.average_precision(
        meta.to_pandas(), feats, batch_size=20000, progress_bar=False,
        neg_sameby=[], **rules,
    )
    ref_map = copairs_map.mean_average_precision(
        ref, ["Metadata_moa"], null_size=10000, threshold=0.05, seed=0,
        progress_bar=False, cache_dir=tmp_path,
    ).sort_values("Metadata_moa")
    ours_map = mean_average_precision(ours, ["Metadata_moa"], null_size=10000, seed=0)
    assert ours_map["Metadata_moa"].to_list() == ref_map["Metadata_moa"].tolist()
    np.testing.assert_allclose(
        ours_map["mean_average_precision"].to_numpy(), ref_map["mean_average_precision"], atol=1e-12
    )
    # Same null construction and RNG use: p-values are exactly equal.
    np.testing.assert_array_equal(ours_map["p_value"].to_numpy(), ref_map["p_value"].to_numpy())
    np.testing.assert_allclose(
        ours_map["corrected_p_value"].to_numpy(), ref_map["corrected_p_value"], atol=1e-12
    )
    assert ours_map["below_corrected_p"].to_list() == ref_map["below_corrected_p"].tolist()
    assert fraction_retrieved(ours_map) == pytest.approx(ref_map["below_corrected_p"].mean())


def test_benjamini_hochberg_matches_scipy() -> None:
    p = np.random.default_rng(1).random(200) ** 3
    np.testing.assert_allclose(benjamini_hochberg(p), false_discovery_control(p), atol=1e-14)


def test_float32_near_ties_ranked_like_copairs() -> None:
    # The negative is 1e-9 more similar to the query than the positive: a different
    # float64 similarity but the same float32 one, where copairs ranks the positive first.
    s, t = 0.3, 0.3 + 1e-9
    feats = np.array(
        [[1.0, 0.0, 0.0], [s, np.sqrt(1 - s * s), 0.0], [t, 0.0, np.sqrt(1 - t * t)]]
    )
    meta = pl.DataFrame({"g": [0, 0, 1]})
    out = _assert_same_ap(meta, feats, pos_sameby=["g"], neg_diffby=["g"])
    assert out["average_precision"][0] == 1.0


# ---- checked inputs (issue 9, item 3) ----------------------------------------------------------

@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_features_are_rejected(bad: float) -> None:
    meta, feats = _three_groups()
    feats[4, 2] = bad
    rules = dict(pos_sameby=["cpd"], neg_diffby=["ctrl"])
    message = r"non-finite value\(s\) in 1 profile\(s\), first -?(nan|inf) at row 4, feature 2"
    with pytest.raises(ValueError, match=message):
        average_precision(meta, feats, **rules)
    if np.isnan(bad):  # copairs 0.5.5 refuses NaN too; it lets inf through (its similarity turns NaN)
        with pytest.raises(ValueError, match="null values"):
            _copairs_ap(meta, feats, **rules)


def test_zero_norm_profile_is_left_out_of_the_ranking() -> None:
    """copairs scores a zero-norm query 1.0 (its NaN similarities tie, positives first); our rule
    drops the profile as query and as partner: every other AP equals copairs' without that row."""
    import warnings

    meta, feats = _three_groups()
    rules = dict(pos_sameby=["cpd"], neg_diffby=["ctrl"])
    for zero in (1, 7):  # a treated profile, then a control
        x = feats.copy()
        x[zero] = 0.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # copairs divides by the zero norm
            accident = _copairs_ap(meta, x, **rules)["average_precision"][zero]
        assert zero != 1 or accident == 1.0  # the accident our rule prevents
        ours = average_precision(meta, x, **rules)
        assert ours["average_precision"][zero] is None
        assert (ours["n_pos_pairs"][zero], ours["n_total_pairs"][zero]) == (0, 0)
        keep = np.arange(meta.height) != zero
        reference = _copairs_ap(meta.filter(pl.Series(keep)), x[keep], **rules)
        others = ours.filter(pl.Series(keep))
        assert others["n_pos_pairs"].to_list() == reference["n_pos_pairs"].to_list()
        assert others["n_total_pairs"].to_list() == reference["n_total_pairs"].to_list()
        np.testing.assert_allclose(others["average_precision"].to_numpy().astype(float),
                                   reference["average_precision"].to_numpy(), rtol=0, atol=1e-12)


def test_query_whose_only_negatives_have_zero_norm_is_not_scored() -> None:
    # Plate P1: a, a and a zero control; plate P2: b, b and a real control. By hand on P2: the
    # replicates point the same way (cosine 0.8), the control away (0.6 and 0): AP 1.0, and
    # the other b (cosine 0.8 to its replicate, 0.0 to the control) 1.0 too; P1's queries would
    # rank their replicate alone (1.0 by construction), so they are not scored.
    meta = pl.DataFrame({"plate": ["P1"] * 3 + ["P2"] * 3, "cpd": ["a", "a", "c1", "b", "b", "c2"],
                         "ctrl": [False, False, True, False, False, True]})
    feats = np.array([[1.0, 0, 0], [0.0, 1, 0], [0, 0, 0], [1.0, 0, 0], [0.8, 0.6, 0], [0.6, -0.8, 0]])
    out = average_precision(meta, feats, pos_sameby=["cpd"], neg_sameby=["plate"], neg_diffby=["ctrl"])
    assert out["average_precision"].to_list()[:3] == [None, None, None]
    assert out["average_precision"].to_list()[3:5] == [1.0, 1.0]
    assert out["n_pos_pairs"].to_list()[3:5] == [1, 1] and out["n_total_pairs"].to_list()[3:5] == [2, 2]
    # P2's b profiles each see the real control as negative; a reversed replicate ranks below it: AP 1/2
    feats[4] = [-1.0, 0, 0]
    out = average_precision(meta, feats, pos_sameby=["cpd"], neg_sameby=["plate"], neg_diffby=["ctrl"])
    assert out["average_precision"][3] == pytest.approx(0.5)


def test_unpaired_error_counts_and_is_a_value_error() -> None:
    from morph_assets.lib.retrieval import UnpairedError

    meta = pl.DataFrame({"g": [0, 1, 2]})
    with pytest.raises(UnpairedError, match="positive pairs among 3 profiles") as caught:
        average_precision(meta, np.eye(3), pos_sameby=["g"], neg_diffby=["g"])
    assert caught.value.kind == "positive" and isinstance(caught.value, ValueError)
    with pytest.raises(ValueError, match="no column 'h' named in a pair rule"):
        average_precision(meta, np.eye(3), pos_sameby=["h"], neg_diffby=["g"])


def test_mean_average_precision_checks_its_table(tmp_path: Path) -> None:
    meta, feats = _three_groups()
    table = average_precision(meta, feats, pos_sameby=["cpd"], neg_diffby=["ctrl"])
    for value, message in ((np.inf, r"\[0, 1\]"), (1.5, r"\[0, 1\]")):
        broken = table.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(value)
                                    .otherwise(pl.col("average_precision")).alias("average_precision"))
        with pytest.raises(ValueError, match=message):
            mean_average_precision(broken, ["cpd"], null_size=10)
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['n_total_pairs'\]"):
        mean_average_precision(table.drop("n_total_pairs"), ["cpd"], null_size=10)
    with pytest.raises(ValueError, match="null_size"):
        mean_average_precision(table, ["cpd"], null_size=0)
    # NaN marks an unscored profile, as in copairs' own tables: the same mAP and p-values as copairs'
    marked = table.with_columns(pl.when(pl.int_range(pl.len()) == 2).then(float("nan"))
                                .otherwise(pl.col("average_precision")).alias("average_precision"))
    ours = mean_average_precision(marked, ["cpd"], null_size=500, seed=3)
    reference = copairs_map.mean_average_precision(
        marked.to_pandas().assign(normalized_average_precision=0.0), ["cpd"], null_size=500, threshold=0.05, seed=3,
        progress_bar=False, cache_dir=tmp_path).sort_values("cpd")
    assert ours["cpd"].to_list() == reference["cpd"].tolist()
    np.testing.assert_allclose(ours["mean_average_precision"].to_numpy(), reference["mean_average_precision"],
                               atol=1e-12)
    np.testing.assert_array_equal(ours["p_value"].to_numpy(), reference["p_value"].to_numpy())

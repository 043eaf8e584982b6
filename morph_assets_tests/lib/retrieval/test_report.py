"""Tests for ``morph_assets.lib.retrieval`` against copairs 0.5.5 on a seeded synthetic study."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from morph_assets.lib.plot import map_scatter, to_png
from morph_assets.lib.profiles import NORMALIZATION, TREATMENT
from morph_assets.lib.retrieval import DEFAULT_SETTINGS, RetrievalRun, RetrievalSetting, runs_table, score_profiles

copairs_map = pytest.importorskip("copairs.map")

N_FEATURES = 16
FEATURES = [f"f{i:02d}" for i in range(N_FEATURES)]
NULL_SIZE = 2000
#: 4 DMSO wells, then 16 compound wells: c00..c11, with c00..c03 at a second position too.
LAYOUT = ["DMSO"] * 4 + [f"c{i:02d}" for i in range(12)] + [f"c{i:02d}" for i in range(4)]
WELLS = [f"{row}{col:02d}" for row in "ABCD" for col in range(1, 6)]


def _profiles(plates: tuple[str, ...] = ("P1", "P2", "P3"), seed: int = 0) -> pl.DataFrame:
    """Plates sharing one layout; compounds c00..c05 carry a signal, c06..c11 none (hard to retrieve)."""
    rng = np.random.default_rng(seed)
    compounds = sorted(set(LAYOUT) - {"DMSO"})
    signal = {c: (2.0 if i < 6 else 0.0) * rng.normal(size=N_FEATURES) for i, c in enumerate(compounds)}
    signal["DMSO"] = np.zeros(N_FEATURES)
    rows, values = [], []
    for plate in plates:
        for well, treatment in zip(WELLS, LAYOUT, strict=True):
            control = treatment == "DMSO"
            rows.append({
                "Metadata_Plate": plate, "Metadata_Well": well,
                "Metadata_broad_sample": None if control else f"BRD-{treatment}",
                "Metadata_pert_iname": treatment,
                "Metadata_target_list": None if control else f"T{treatment[-1]}",
                "Metadata_control_type": "negcon" if control else None,
                TREATMENT: treatment,
                NORMALIZATION: "mad_robustize",
            })
            values.append(signal[treatment] + rng.normal(size=N_FEATURES))
    return pl.DataFrame(rows).hstack(pl.DataFrame(np.array(values), schema=FEATURES))


def _copairs_map(profiles: pl.DataFrame, pos_sameby: list[str], pos_diffby: list[str], cache: Path):
    """copairs' AP and mAP of the CPJUMP1 rules: treated queries, same-plate DMSO negatives."""
    meta = profiles.drop(FEATURES).with_columns(
        (pl.col("Metadata_control_type") == "negcon").fill_null(False).alias("is_control"),
    ).with_columns(
        pl.when(pl.col("is_control")).then(pl.int_range(pl.len(), dtype=pl.Int64)).otherwise(-1).alias("reference"),
    )
    ap = copairs_map.average_precision(
        meta.to_pandas(), profiles.select(FEATURES).to_numpy(), pos_sameby=pos_sameby, pos_diffby=pos_diffby,
        neg_sameby=["Metadata_Plate"], neg_diffby=["is_control"], batch_size=20000, progress_bar=False,
    )
    ap = ap[~ap["is_control"]].reset_index(drop=True)
    mean_ap = copairs_map.mean_average_precision(
        ap, [TREATMENT], null_size=NULL_SIZE, threshold=0.05, seed=0, progress_bar=False, cache_dir=cache,
    ).sort_values(TREATMENT).reset_index(drop=True)
    return ap, mean_ap


@pytest.fixture(scope="module")
def scored() -> tuple[pl.DataFrame, list[RetrievalRun], pl.DataFrame]:
    profiles = _profiles()
    runs, per_treatment = score_profiles(profiles, FEATURES, representation="synthetic", level="well",
                                         null_size=NULL_SIZE, seed=0)
    return profiles, runs, per_treatment


@pytest.mark.parametrize(
    ("setting", "pos_sameby", "pos_diffby"),
    [
        ("pooled", [TREATMENT, "reference"], []),
        ("same (cpjump1)", [TREATMENT, "reference", "Metadata_Well"], ["Metadata_Plate"]),
        ("different (cpjump1)", [TREATMENT, "reference"], ["Metadata_Well"]),
    ],
)
def test_settings_equal_copairs(scored, tmp_path: Path, setting: str, pos_sameby: list[str],
                                pos_diffby: list[str]) -> None:
    profiles, runs, per_treatment = scored
    ours = per_treatment.filter(pl.col("setting") == setting).sort(TREATMENT)
    ap, reference = _copairs_map(profiles, pos_sameby, pos_diffby, tmp_path)
    assert ours[TREATMENT].to_list() == reference[TREATMENT].tolist()
    np.testing.assert_allclose(ours["mean_average_precision"].to_numpy(), reference["mean_average_precision"],
                               rtol=0, atol=1e-12)
    # same nulls, same seeds: identical p-values, not merely close ones
    np.testing.assert_array_equal(ours["p_value"].to_numpy(), reference["p_value"].to_numpy())
    assert ours["below_corrected_p"].to_list() == reference["below_corrected_p"].tolist()
    run = next(r for r in runs if r.setting == setting)
    assert run.mean_ap == pytest.approx(ap["average_precision"].mean(), abs=1e-12)
    assert run.mean_map == pytest.approx(reference["mean_average_precision"].mean(), abs=1e-12)
    assert run.fraction_retrieved == pytest.approx(reference["below_corrected_p"].mean())
    # only c00..c03 have a replicate at another position
    n_treatments = 4 if setting.startswith("different") else 12
    assert (run.n_profiles, run.n_rows_dropped, run.n_treatments, run.n_features) == (60, 0, n_treatments, N_FEATURES)
    # positives per query of a duplicated compound (c00..c03) / of a single-position compound
    expected_pos = {"pooled": (5, 2), "same (cpjump1)": (2, 2), "different (cpjump1)": (3, 0)}[setting]
    pairs = dict(zip(ap[TREATMENT], ap["n_pos_pairs"], strict=True))
    assert (pairs["c00"], pairs["c11"]) == expected_pos


def test_signal_compounds_are_retrieved(scored) -> None:
    _, _, per_treatment = scored
    pooled = per_treatment.filter(pl.col("setting") == "pooled")
    retrieved = set(pooled.filter(pl.col("below_corrected_p"))[TREATMENT].to_list())
    assert {f"c{i:02d}" for i in range(6)} <= retrieved
    assert len(retrieved & {f"c{i:02d}" for i in range(6, 12)}) <= 2
    assert pooled.filter(pl.col(TREATMENT) == "c03")["Metadata_pert_iname"].to_list() == ["c03"]
    assert pooled.filter(pl.col(TREATMENT) == "c03")["Metadata_target_list"].to_list() == ["T3"]


def test_runs_cover_default_settings_and_table(scored) -> None:
    _, runs, per_treatment = scored
    assert [r.setting for r in runs] == [s.label for s in DEFAULT_SETTINGS]
    assert {r.normalization for r in runs} == {"mad_robustize"}
    table = runs_table(runs)
    assert table.columns == [f.name for f in dataclasses.fields(RetrievalRun)]
    assert table.height == len(DEFAULT_SETTINGS)
    assert table["representation"].unique().to_list() == ["synthetic"]
    assert set(per_treatment["setting"].unique().to_list()) == set(table["setting"].to_list())
    assert {"representation", "level", "normalization", "setting", "p_value"} <= set(per_treatment.columns)


def test_one_plate_reports_settings_without_replicates(tmp_path: Path) -> None:
    """One plate: only the four duplicated compounds have a replicate (another well); the setting
    that needs another plate is reported as "no replicate pairs" with its counts, not dropped."""
    one_plate = _profiles(plates=("P1",))
    messages: list[str] = []
    settings = (RetrievalSetting("pooled", "cpjump1"), RetrievalSetting("same", "cpjump1"),
                RetrievalSetting("different", "cpjump1"))
    runs, per_treatment = score_profiles(one_plate, FEATURES, representation="r", level="well", settings=settings,
                                         null_size=NULL_SIZE, log=messages.append)
    by_setting = {run.setting: run for run in runs}
    assert [r.setting for r in runs] == ["pooled", "same (cpjump1)", "different (cpjump1)"]
    same = by_setting["same (cpjump1)"]
    assert (same.status, same.n_replicate_pairs, same.n_queries, same.n_controls, same.n_profiles) == (
        "no replicate pairs", 0, 16, 4, 20)
    assert same.mean_map is None and same.fraction_retrieved is None
    assert "same well of another plate" in same.reason and "16 treated profiles of 12 treatments" in same.reason
    assert any("same (cpjump1): not scored, no replicate pairs" in m for m in messages)
    # c00..c03 sit in two wells each: 4 unordered replicate pairs, 8 queries with an AP
    pooled = by_setting["pooled"]
    assert (pooled.status, pooled.n_replicate_pairs, pooled.n_queries_scored, pooled.n_treatments) == (
        "scored", 4, 8, 4)
    ap, reference = _copairs_map(one_plate, [TREATMENT, "reference"], [], tmp_path)
    ours = per_treatment.filter(pl.col("setting") == "pooled").sort(TREATMENT)
    assert ours[TREATMENT].to_list() == reference[TREATMENT].tolist() == ["c00", "c01", "c02", "c03"]
    np.testing.assert_allclose(ours["mean_average_precision"].to_numpy(), reference["mean_average_precision"],
                               rtol=0, atol=1e-12)
    np.testing.assert_array_equal(ours["p_value"].to_numpy(), reference["p_value"].to_numpy())
    assert pooled.mean_ap == pytest.approx(ap["average_precision"].mean(), abs=1e-12)
    table = runs_table(runs)
    assert table.filter(pl.col("status") == "no replicate pairs")["setting"].to_list() == ["same (cpjump1)"]
    assert table["mean_map"].null_count() == 1


def test_two_plates_without_replicates_score_nothing_and_say_why() -> None:
    """Two plates of different compounds, one well each: no setting has a positive pair."""
    profiles = _profiles(plates=("P1", "P2"))
    first, second = (pl.col("Metadata_Plate") == "P1"), (pl.col("Metadata_Plate") == "P2")
    compound = pl.col(TREATMENT).str.slice(1).cast(pl.Int32, strict=False)
    distinct = profiles.filter(pl.col(TREATMENT).eq("DMSO") | (first & (compound < 6)) | (second & (compound >= 6)))
    distinct = distinct.unique([TREATMENT, "Metadata_Plate"], keep="first", maintain_order=True)
    runs, per_treatment = score_profiles(distinct, FEATURES, representation="r", level="well", null_size=100)
    assert [run.status for run in runs] == ["no replicate pairs"] * len(DEFAULT_SETTINGS)
    assert {run.n_queries for run in runs} == {12} and {run.n_controls for run in runs} == {2}
    assert "at most 1 per treatment" in runs[0].reason and "on 2 plate(s)" in runs[0].reason
    assert per_treatment.is_empty() and "p_value" in per_treatment.columns


def test_no_controls_and_zero_norm_profiles_are_counted() -> None:
    profiles = _profiles(plates=("P1",))
    treated_only = profiles.filter(pl.col("Metadata_control_type").is_null())
    runs, _ = score_profiles(treated_only, FEATURES, representation="r", level="well",
                             settings=(RetrievalSetting("pooled", "cpjump1"),), null_size=100)
    assert (runs[0].status, runs[0].n_controls) == ("no negative controls", 0)
    zeroed = profiles.with_columns([pl.when(pl.int_range(pl.len()) == 4).then(0.0).otherwise(pl.col(f)).alias(f)
                                    for f in FEATURES])  # row 4: c00, one of the duplicated compounds
    runs, per_treatment = score_profiles(zeroed, FEATURES, representation="r", level="well",
                                         settings=(RetrievalSetting("pooled", "cpjump1"),), null_size=100)
    # c00 loses its only replicate; c01..c03 keep theirs
    assert (runs[0].n_zero_norm, runs[0].n_replicate_pairs, runs[0].n_queries_scored) == (1, 3, 6)
    assert sorted(per_treatment[TREATMENT].to_list()) == ["c01", "c02", "c03"]


def test_incomplete_rows_dropped_and_nothing_to_score() -> None:
    profiles = _profiles()
    broken = profiles.with_columns(
        pl.when(pl.int_range(pl.len()) == 7).then(None).otherwise(pl.col("f03")).alias("f03"))
    runs, _ = score_profiles(broken, FEATURES, representation="r", level="image",
                             settings=(RetrievalSetting("pooled", "cpjump1"),), null_size=200)
    assert (runs[0].n_profiles, runs[0].n_rows_dropped) == (59, 1)
    messages: list[str] = []
    runs, per_treatment = score_profiles(profiles, [], representation="r", level="well", log=messages.append)
    assert [run.status for run in runs] == ["no usable features"] * len(DEFAULT_SETTINGS)
    assert per_treatment.is_empty() and "not scored" in messages[0]
    with pytest.raises(ValueError, match=r"lack column\(s\) \['Metadata_control_type'\]"):
        score_profiles(profiles.drop("Metadata_control_type"), FEATURES, representation="r", level="well")


def test_map_scatter_png(scored) -> None:
    _, _, per_treatment = scored
    png = to_png(map_scatter(per_treatment.filter(pl.col("setting") == "pooled"), title="pooled").figure)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
    empty = to_png(map_scatter(per_treatment.head(0), title="empty").figure)
    assert empty[:8] == b"\x89PNG\r\n\x1a\n"

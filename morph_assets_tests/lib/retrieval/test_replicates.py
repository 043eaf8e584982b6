"""Replicate retrieval (the CPJUMP1 settings, well positions) against copairs 0.5.5 and sklearn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import average_precision_score

from morph_assets.lib.retrieval import fraction_retrieved, replicate_retrieval
from morph_assets_tests.lib.retrieval.helpers import _copairs_ap, _three_groups


def test_replicate_retrieval_cpjump1_setting(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    plates, wells = ["P1", "P2", "P3", "P4"], [f"W{i:02d}" for i in range(24)]
    rows = []
    for plate in plates:
        for i, well in enumerate(wells):
            cpd = "DMSO" if i < 6 else f"c{(i - 6) % 9}"  # 9 compounds, 2 positions per plate
            rows.append((plate, well, cpd, "negcon" if cpd == "DMSO" else None))
    meta = pl.DataFrame(
        rows, schema=["Metadata_Plate", "Metadata_Well", "Metadata_broad_sample", "Metadata_control_type"],
        orient="row",
    )
    signal = {c: rng.normal(size=10) for c in meta["Metadata_broad_sample"].unique().to_list()}
    x = np.stack([signal[c] * (c != "DMSO") + rng.normal(size=10) for c in meta["Metadata_broad_sample"]])
    feats = [f"f{i}" for i in range(10)]
    profiles = meta.hstack(pl.DataFrame(x, schema=feats))
    pm = meta.with_columns(
        (pl.col("Metadata_control_type") == "negcon").fill_null(False).alias("ctrl"),
        pl.when(pl.col("Metadata_control_type") == "negcon")
        .then(pl.int_range(pl.len(), dtype=pl.Int64)).otherwise(-1).alias("ref"),
    )
    for position_filter, pos_sameby, pos_diffby in [
        (None, ["Metadata_broad_sample", "ref"], []),
        ("same", ["Metadata_broad_sample", "ref", "Metadata_Well"], ["Metadata_Plate"]),
        ("different", ["Metadata_broad_sample", "ref"], ["Metadata_Well"]),
    ]:
        ap, mp = replicate_retrieval(profiles, feats, position_filter=position_filter, null_size=2000)
        assert ap.height == 4 * 18
        ref = _copairs_ap(
            pm, x, pos_sameby=pos_sameby, pos_diffby=pos_diffby,
            neg_sameby=["Metadata_Plate"], neg_diffby=["ctrl"],
        ).filter(~pm["ctrl"])
        np.testing.assert_allclose(ap["average_precision"].to_numpy(), ref["average_precision"], atol=1e-12)
        assert ap["n_pos_pairs"].to_list() == ref["n_pos_pairs"].to_list()
        expected_pos = {None: 7, "same": 3, "different": 4}[position_filter]
        assert set(ap["n_pos_pairs"].to_list()) == {expected_pos}
        assert set(ap["n_total_pairs"].to_list()) == {expected_pos + 6}
        assert mp.height == 9
        assert 0.0 <= fraction_retrieved(mp) <= 1.0


def test_study_position_definition_against_brute_force() -> None:
    """The study's distance-based same/different split, checked query by query with sklearn."""
    from sklearn.metrics.pairwise import cosine_similarity

    from morph_assets.lib.retrieval import near_position_threshold, well_coordinates

    rng = np.random.default_rng(3)
    wells = [f"{r}{c:02d}" for r in "ABCDEF" for c in range(1, 9)]
    rows = []
    for plate in ("P1", "P2"):
        shuffled = rng.permutation(wells)
        for i, well in enumerate(shuffled):
            control = i < 8
            rows.append({"Metadata_Plate": plate, "Metadata_Well": well,
                         "Metadata_broad_sample": None if control else f"c{i % 10}",
                         "Metadata_control_type": "negcon" if control else None})
    meta = pl.DataFrame(rows)
    feats = rng.normal(size=(meta.height, 12))
    coords = well_coordinates(meta["Metadata_Well"])
    limit = near_position_threshold(coords)
    assert limit == pytest.approx(np.percentile(
        [np.hypot(a[0] - b[0], a[1] - b[1]) for k, a in enumerate(np.unique(coords, axis=0))
         for b in np.unique(coords, axis=0)[k + 1:]], 10))
    similarity = cosine_similarity(feats)
    control = meta["Metadata_control_type"].eq("negcon").fill_null(False).to_numpy()
    compound = meta["Metadata_broad_sample"].to_list()
    plate = meta["Metadata_Plate"].to_numpy()
    for setting in ("same", "different"):
        frame = meta.with_columns(pl.DataFrame(feats, schema=[f"f{i}" for i in range(12)]))
        ap_table, _ = replicate_retrieval(frame, [f"f{i}" for i in range(12)], position_filter=setting,
                                          position_definition="study", null_size=10)
        expected = []
        for q in np.flatnonzero(~control):
            distance = np.hypot(*(coords - coords[q]).T)
            near = distance <= limit
            pos = np.array([compound[j] == compound[q] and j != q and (near[j] if setting == "same" else not near[j])
                            for j in range(meta.height)])
            neg = control & (plate == plate[q])
            if pos.sum() == 0:
                expected.append(None)
                continue
            keep = pos | neg
            expected.append(average_precision_score(pos[keep], similarity[q, keep]))
        got = ap_table["average_precision"].to_list()
        assert sum(e is not None for e in expected) > 5
        for e, g in zip(expected, got, strict=True):
            assert (e is None) == (g is None)
            if e is not None:
                assert g == pytest.approx(e, abs=1e-9)


def test_replicate_retrieval_names_the_non_finite_feature() -> None:
    meta, feats = _three_groups()
    frame = meta.select(
        pl.lit("P1").alias("Metadata_Plate"), pl.format("W{}", pl.int_range(pl.len())).alias("Metadata_Well"),
        pl.col("cpd").alias("Metadata_broad_sample"),
        pl.when(pl.col("ctrl")).then(pl.lit("negcon")).alias("Metadata_control_type"),
    ).hstack(pl.DataFrame(feats, schema=[f"Cells_f{i}" for i in range(6)]))
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 1).then(None).otherwise(pl.col("Cells_f3")).alias("Cells_f3"))
    with pytest.raises(ValueError, match="first nan at row 1, feature 'Cells_f3'; .*drop_incomplete_rows"):
        replicate_retrieval(frame, [f"Cells_f{i}" for i in range(6)], null_size=10)
    with pytest.raises(ValueError, match="no feature column"):
        replicate_retrieval(frame, [], null_size=10)
    with pytest.raises(ValueError, match=r"lack column\(s\) \['Cells_missing'\]"):
        replicate_retrieval(frame, ["Cells_missing"], null_size=10)


def test_replicates_on_a_plate_without_controls_are_not_scored() -> None:
    """copairs would score the P2 compound 1.0 with p = 1/(null+1): no control to rank against."""
    rows = [("P1", "A01", "DMSO", "negcon"), ("P1", "A02", "DMSO", "negcon"), ("P1", "A03", "x", None),
            ("P1", "A04", "x", None), ("P2", "A01", "y", None), ("P2", "A02", "y", None)]
    frame = pl.DataFrame(rows, schema=["Metadata_Plate", "Metadata_Well", "Metadata_broad_sample",
                                       "Metadata_control_type"], orient="row")
    feats = np.array([[1.0, 0], [0.9, 0.1], [0, 1.0], [0.1, 1.0], [0.5, 0.5], [0.4, 0.6]])
    frame = frame.hstack(pl.DataFrame(feats, schema=["f0", "f1"]))
    ap, mp = replicate_retrieval(frame, ["f0", "f1"], null_size=100)
    assert ap["average_precision"].to_list() == [1.0, 1.0, None, None]  # x: replicate nearer than DMSO
    assert mp["Metadata_broad_sample"].to_list() == ["x"]

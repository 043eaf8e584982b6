"""A study over ONE plate (the seed study's setting) and over two plates without replicates: every
study asset completes, settings without replicate pairs are reported with their counts, and
what cannot be evaluated is skipped with its reason (issue 9, item 7)."""

import base64
import re

import dagster as dg
import duckdb
import numpy as np
import polars as pl
import pytest
from morph_assets_tests.defs.helpers import check_results, definitions_for, run_plates_and_study

from morph_assets.lib.io import Lake
from morph_assets.lib.synthetic import SyntheticConfig, generate_plates

copairs_map = pytest.importorskip("copairs.map")

#: Row A (DMSO in A02, A09, A17), B01-B08 (DMSO in B03) and two positive controls of JUMP-Target-1
#: that sit in two wells each (C09/E06 and D11/L12): 36 wells, 32 of them treated, 2 sites per well.
ONE_PLATE_WELLS = (*(f"A{c:02d}" for c in range(1, 25)), *(f"B{c:02d}" for c in range(1, 9)),
                   "C09", "E06", "D11", "L12")
DUPLICATED = {"C09": "E06", "D11": "L12"}
#: Two plates of different compounds, one site per well: A01-A12 with C03, C06 (DMSO in A02, A09,
#: C03, C06) and B01-B12 with C12, C15 (DMSO in B03, C12, C15). No treatment but DMSO appears
#: twice, so no setting has a replicate pair.
DISTINCT_PLATES = {"SYNJA0001": (*(f"A{c:02d}" for c in range(1, 13)), "C03", "C06"),
                   "SYNJB0001": (*(f"B{c:02d}" for c in range(1, 13)), "C12", "C15")}
STUDY_ASSETS = ("treatment_profiles", "map_report", "treatment_classifiers", "vae_model", "vae_embeddings",
                "treatment_clusters", "cluster_validation", "study_report")
STUDY_CONFIG = {"ops": {
    "treatment_classifiers": {"config": {"n_estimators": 20, "max_epochs": 2}},
    "vae_model": {"config": {"max_epochs": 2}},
    "map_report": {"config": {"null_size": 1000}},
}}
SMALL = {"image_size": 96, "cell_diameter_px": 24.0}


def _run_study(defs: dg.Definitions, instance: dg.DagsterInstance, plates: list[str]) -> dict:
    return run_plates_and_study(defs, instance, plates, STUDY_CONFIG)


@pytest.fixture(scope="module")
def one_plate(tmp_path_factory: pytest.TempPathFactory):
    """One plate through every job; yields (lake, runs)."""
    root = tmp_path_factory.mktemp("one_plate")
    config = SyntheticConfig(n_plates=1, wells=ONE_PLATE_WELLS, sites_per_well=2, seed=5, **SMALL)
    generate_plates(config, root / "source")
    defs = definitions_for(root / "lake", root / "source", workers=2)
    with dg.instance_for_test() as instance:
        yield Lake(root / "lake"), _run_study(defs, instance, config.barcodes())


@pytest.fixture(scope="module")
def distinct_plates(tmp_path_factory: pytest.TempPathFactory):
    """Two plates without a replicated treatment; yields (lake, runs)."""
    root = tmp_path_factory.mktemp("distinct_plates")
    for barcode, wells in DISTINCT_PLATES.items():
        generate_plates(SyntheticConfig(n_plates=1, wells=wells, sites_per_well=1, seed=3, barcode_prefix=barcode[:5],
                                        **SMALL), root / "source")
    defs = definitions_for(root / "lake", root / "source", workers=2)
    with dg.instance_for_test() as instance:
        yield Lake(root / "lake"), _run_study(defs, instance, list(DISTINCT_PLATES))


def _materialized(run) -> set[str]:
    return {event.asset_key.to_user_string() for event in run.get_asset_materialization_events()}


def _metadata(run, asset: str) -> dict:
    return run.asset_materializations_for_node(asset)[0].metadata


def test_one_plate_study_completes(one_plate):
    _, runs = one_plate
    assert {name: run.success for name, run in runs.items()} == dict.fromkeys(runs, True)
    assert set(STUDY_ASSETS) <= _materialized(runs["study"])
    assert "1 plate(s) with crops" in _metadata(runs["study"], "crop_network")["skipped"].value
    # the two duplicated compounds are JUMP-Target-1's positive controls: both scored
    assert "of 2 positive controls retrieved" in check_results(runs["study"])["positive_controls_retrieved"].description
    assert check_results(runs["profiles SYNJT0001"])["dmso_wells_consistent"].metadata["dmso_wells"].value == 4


def test_one_plate_settings_without_replicates_are_rows_with_counts(one_plate):
    lake, runs = one_plate
    summary = pl.read_parquet(lake.study_file("map_summary"))
    assert summary.height == 4 * 2 * 2 * 5  # representations x levels x normalisations x settings: none dropped
    same_well = summary.filter(pl.col("setting") == "same (cpjump1)")
    assert set(same_well["status"]) == {"no replicate pairs"} and same_well["mean_map"].null_count() == 16
    assert (same_well["n_replicate_pairs"] == 0).all()
    # 32 treated wells and 4 DMSO wells of 1 plate; 2 sites each at image level
    counts = same_well.select("level", "n_queries", "n_controls").unique().sort("level").rows()
    assert counts == [("image", 64, 8), ("well", 32, 4)]
    assert "the same treatment in the same well of another plate" in same_well["reason"][0]
    assert "on 1 plate(s)" in same_well["reason"][0]
    # replicate pairs by hand: well level, the two duplicated compounds (2 pairs); image level, the
    # two sites of each treated well (32) and, per duplicated compound, 4 sites across 2 wells (6 - 2)
    pooled = summary.filter((pl.col("setting") == "pooled") & (pl.col("representation") == "cellprofiler"))
    assert set(pooled["status"]) == {"scored"}
    assert dict(pooled.select("level", "n_replicate_pairs").unique().rows()) == {"well": 2, "image": 32 + 2 * 4}
    assert "no replicate pairs" in _metadata(runs["study"], "map_report")["summary"].value


def test_one_plate_map_equals_copairs_on_the_same_profiles(one_plate, tmp_path):
    """The scored setting's numbers are copairs' own on the lake's profiles: well level, DMSO-normalised,
    selected CellProfiler features, the two duplicated compounds retrieved against same-plate DMSO."""
    lake, _ = one_plate
    kept = pl.read_parquet(lake.study_file("selected_features")).filter(
        pl.col("representation") == "cellprofiler")["feature"].to_list()
    wells = pl.read_parquet(lake.plate_file("profiles_well_cellprofiler", "SYNJT0001")).filter(
        pl.col("Metadata_Normalization") == "mad_robustize")
    x = wells.select(kept).to_numpy()
    finite = np.isfinite(x).all(axis=0)
    x = x[:, finite]
    meta = wells.select("Metadata_Plate", "Metadata_Well", "Metadata_treatment").with_columns(
        (wells["Metadata_control_type"] == "negcon").fill_null(False).alias("is_control"),
    ).with_columns(pl.when(pl.col("is_control")).then(pl.int_range(pl.len(), dtype=pl.Int64)).otherwise(-1)
                   .alias("reference")).to_pandas()
    ap = copairs_map.average_precision(meta, x, pos_sameby=["Metadata_treatment", "reference"], pos_diffby=[],
                                       neg_sameby=["Metadata_Plate"], neg_diffby=["is_control"], progress_bar=False)
    ap = ap[~ap["is_control"]]
    reference = copairs_map.mean_average_precision(ap, ["Metadata_treatment"], null_size=1000, threshold=0.05, seed=0,
                                                   progress_bar=False, cache_dir=tmp_path).sort_values(
        "Metadata_treatment")
    ours = pl.read_parquet(lake.study_file("map_per_treatment")).filter(
        (pl.col("representation") == "cellprofiler") & (pl.col("level") == "well")
        & (pl.col("normalization") == "mad_robustize") & (pl.col("setting") == "pooled")).sort("Metadata_treatment")
    duplicated = wells.filter(pl.col("Metadata_Well").is_in(list(DUPLICATED)))["Metadata_treatment"].sort().to_list()
    assert ours["Metadata_treatment"].to_list() == reference["Metadata_treatment"].tolist() == duplicated
    np.testing.assert_allclose(ours["mean_average_precision"].to_numpy(), reference["mean_average_precision"],
                               rtol=0, atol=1e-9)
    np.testing.assert_array_equal(ours["p_value"].to_numpy(), reference["p_value"].to_numpy())
    summary = pl.read_parquet(lake.study_file("map_summary")).filter(
        (pl.col("representation") == "cellprofiler") & (pl.col("level") == "well")
        & (pl.col("normalization") == "mad_robustize") & (pl.col("setting") == "pooled"))
    assert summary["n_features"][0] == int(finite.sum())
    assert summary["mean_map"][0] == pytest.approx(reference["mean_average_precision"].mean(), abs=1e-9)


def test_one_plate_report_and_views_say_what_was_not_scored(one_plate):
    lake, _ = one_plate
    report = (lake.root / "reports" / "study" / "report.md").read_text()
    assert "## What these plates cannot show" in report and "no replicate pairs" in report
    assert "Table 1" in report and "Table 2" in report
    with duckdb.connect(str(lake.duckdb_path), read_only=True) as connection:
        headline = connection.sql("select level, map_same_well, not_scored from map_headline "
                                  "where representation = 'cellprofiler' order by level").fetchall()
    assert [row[1] for row in headline] == [None, None]
    assert all("same (cpjump1): no replicate pairs" in row[2] for row in headline)


def test_two_plates_without_replicates_complete_and_skip_with_reasons(distinct_plates):
    lake, runs = distinct_plates
    assert {name: run.success for name, run in runs.items()} == dict.fromkeys(runs, True)
    assert set(STUDY_ASSETS) <= _materialized(runs["study"])
    summary = pl.read_parquet(lake.study_file("map_summary"))
    assert set(summary["status"]) == {"no replicate pairs"} and summary["mean_map"].null_count() == summary.height
    # 10 + 11 treated wells (one site each) and 4 + 3 DMSO wells, at both levels (pixel statistics:
    # every site has them; a site without cells has no regionprops or CellProfiler profile)
    pixels = summary.filter(pl.col("representation") == "pixel_statistics")
    assert set(pixels.select("n_queries", "n_controls").unique().rows()) == {(21, 7)}
    assert pl.read_parquet(lake.study_file("map_per_treatment")).is_empty()
    # no treatment but DMSO is in two wells: a split by well cannot test a classifier
    classifiers = _metadata(runs["study"], "treatment_classifiers")
    assert classifiers["models_trained"].value == 0 and classifiers["models_skipped"].value == 11
    assert re.search(r"only 1 of 2\d treatments \(DMSO\) are in two or more wells", classifiers["skipped"].value)
    assert pl.read_parquet(lake.study_file("classifier_metrics")).is_empty()
    report = (lake.root / "reports" / "study" / "report.md").read_text()
    assert "treatment_classifiers** skipped 11 item(s)" in report and "80 of 80 retrieval settings" in report
    # the crop network needs treatments on two plates: a network of one plate cannot know the other's
    crop_network = _metadata(runs["study"], "crop_network")["skipped"].value
    assert "only 1 of 2" in crop_network and "(DMSO) are on two or more plates" in crop_network
    assert "**crop_network** skipped 1 item(s)" in report and not lake.has_table("crop_classifier_metrics")
    assert "no positive control" in check_results(runs["study"])["positive_controls_retrieved"].description


def test_one_plate_report_metadata_is_whole_with_its_figures_inside(one_plate):
    lake, runs = one_plate
    shown = _metadata(runs["study"], "study_report")["report"].value
    on_disk = (lake.root / "reports" / "study" / "report.md").read_text()
    # every section of the file, the last one included, and no link the UI cannot follow
    assert re.findall(r"^## .*$", shown, flags=re.M) == re.findall(r"^## .*$", on_disk, flags=re.M)
    assert "## What differs from the study, and why" in shown and "figures/" not in shown
    linked = re.findall(r"\]\(figures/([^)]+)\)", on_disk)
    embedded = re.findall(r"\]\(data:image/png;base64,([^)]+)\)", shown)
    figures = lake.root / "reports" / "study" / "figures"
    assert len(embedded) == len(linked) > 0
    assert [base64.b64decode(data) for data in embedded] == [(figures / name).read_bytes() for name in linked]


def test_one_plate_top_treatments_are_the_best_first(one_plate):
    lake, runs = one_plate
    table = _metadata(runs["study"], "map_report")["top_treatments"].value
    rows = [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| ")][1:]
    best_first = pl.read_parquet(lake.study_file("map_per_treatment")).filter(
        (pl.col("representation") == "cellprofiler") & (pl.col("level") == "well")
        & (pl.col("normalization") == "mad_robustize") & (pl.col("setting") == "pooled")
    ).sort(["mean_average_precision", "Metadata_treatment"], descending=[True, False],
           nulls_last=True)["Metadata_treatment"].to_list()
    assert rows == best_first[:15]

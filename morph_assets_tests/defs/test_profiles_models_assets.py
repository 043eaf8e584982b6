"""The profiles, mAP, models, clusters, report and SQL stages, run in-process on three small replicate plates."""


import dagster as dg
import duckdb
import numpy as np
import polars as pl
import pytest
import torch
from morph_assets_tests.defs.helpers import check_results, definitions_for, run_plates_and_study

from morph_assets.lib.io import Lake
from morph_assets.lib.plates import WELLS_384
from morph_assets.lib.synthetic import SyntheticConfig, generate_plates

#: Rows A and B of JUMP-Target-1: 5 DMSO wells (A02, A09, A17, B03, B14) and 43 compounds per plate.
WELLS = tuple(well for well in WELLS_384 if well[0] in "AB")
PLATES = ("SYNJT0001", "SYNJT0002", "SYNJT0003")


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory):
    """Three replicate plates run through every stage in the order the automation requests them; yields (lake, runs)."""
    root = tmp_path_factory.mktemp("study")
    generate_plates(SyntheticConfig(n_plates=3, wells=WELLS, sites_per_well=1, image_size=160, seed=11), root / "source")
    defs = definitions_for(root / "lake", root / "source", workers=2)
    with dg.instance_for_test() as instance:
        runs = run_plates_and_study(defs, instance, PLATES, {"ops": {
            "treatment_classifiers": {"config": {"n_estimators": 50, "max_epochs": 4}},
            "vae_model": {"config": {"max_epochs": 3}},
            "crop_network": {"config": {"max_epochs": 3}},
            "map_report": {"config": {"null_size": 2000}},
        }})
        yield Lake(root / "lake"), runs, instance


def test_every_run_succeeds(study):
    _, runs, _ = study
    assert {name: run.success for name, run in runs.items()} == dict.fromkeys(runs, True)


def test_well_profiles_aggregate_and_normalise_against_dmso(study):
    lake, runs, _ = study
    dmso_check = check_results(runs["profiles SYNJT0002"])["dmso_wells_consistent"]
    assert dmso_check.metadata["dmso_wells"].value == 5
    profiles = pl.read_parquet(lake.plate_file("profiles_well_regionprops", "SYNJT0002"))
    assert set(profiles["Metadata_Normalization"]) == {"none", "mad_robustize"}
    raw = profiles.filter(pl.col("Metadata_Normalization") == "none").sort("Metadata_Well")
    assert raw.height == len(WELLS)
    # Un-normalised well profiles are the per-well medians of the per-site table (one site: the site itself).
    sites = pl.read_parquet(lake.plate_file("regionprops_image", "SYNJT0002")).sort("Metadata_Well")
    np.testing.assert_allclose(raw["Mean_Cells_AreaShape_Area"].to_numpy(), sites["Mean_Cells_AreaShape_Area"].to_numpy())
    # After robust normalisation the DMSO wells are centred: their median is 0 for every feature.
    normalised = profiles.filter((pl.col("Metadata_Normalization") == "mad_robustize")
                                 & (pl.col("Metadata_control_type") == "negcon"))
    assert normalised.height == 5
    assert normalised["Mean_Cells_AreaShape_Area"].median() == pytest.approx(0, abs=1e-9)
    by_hand = raw.filter(pl.col("Metadata_control_type") == "negcon")["Mean_Nuclei_AreaShape_Area"]
    centre, mad = by_hand.median(), (by_hand - by_hand.median()).abs().median() * 1.4826
    well = raw.row(0, named=True)
    got = profiles.filter((pl.col("Metadata_Normalization") == "mad_robustize")
                          & (pl.col("Metadata_Well") == well["Metadata_Well"]))["Mean_Nuclei_AreaShape_Area"][0]
    assert got == pytest.approx((well["Mean_Nuclei_AreaShape_Area"] - centre) / mad, rel=1e-9)


def test_treatment_profiles_pool_replicate_plates(study):
    lake, _, _ = study
    consensus = pl.read_parquet(lake.study_file("treatment_profiles_cellprofiler"))
    compounds = consensus.filter(pl.col("Metadata_control_type").is_null())
    assert compounds.height == 43 and (compounds["Metadata_n_plates"] == 3).all()
    dmso = consensus.filter(pl.col("Metadata_treatment") == "DMSO")
    assert dmso["Metadata_n_wells"].to_list() == [15]
    kept = pl.read_parquet(lake.study_file("selected_features"))
    assert 0 < kept.filter(pl.col("representation") == "cellprofiler").height < 1329


def test_map_report_scores_every_representation_and_setting(study):
    lake, runs, _ = study
    summary = pl.read_parquet(lake.study_file("map_summary"))
    assert set(summary["representation"]) == {"pixel_statistics", "regionprops", "cellprofiler", "vae", "crop_cnn"}
    pooled = summary.filter(pl.col("setting") == "pooled")
    assert pooled.height == 5 * 2 * 2  # representations x levels x normalisations
    assert pooled["mean_map"].is_between(0, 1).all() and pooled["fraction_retrieved"].is_between(0, 1).all()
    per_treatment = pl.read_parquet(lake.study_file("map_per_treatment"))
    one = per_treatment.filter((pl.col("representation") == "regionprops") & (pl.col("level") == "well")
                               & (pl.col("normalization") == "mad_robustize") & (pl.col("setting") == "pooled"))
    assert one.height == 43  # every compound has replicates on the other two plates
    assert one["p_value"].min() >= 1 / 2001
    # Rows A and B hold no positive control: the check says so rather than failing.
    assert "no positive control" in check_results(runs["study"])["positive_controls_retrieved"].description
    metadata = runs["study"].asset_materializations_for_node("map_report")[0].metadata
    assert "pooled" in metadata["summary"].value


def test_models_clusters_and_report(study):
    lake, runs, _ = study
    metrics = pl.read_parquet(lake.study_file("classifier_metrics"))
    assert metrics.height == 6 + 5  # three forests and five CNNs, with and without class weights (one CNN once)
    # Majority baseline: DMSO is 5 of 48 wells, so always answering DMSO scores about 0.1 on held-out wells.
    assert metrics["majority_accuracy"].is_between(0.02, 0.3).all()
    assert (lake.root / "models" / "classifiers" / "forest_regionprops_balanced.joblib").exists()
    embeddings = pl.read_parquet(lake.plate_file("vae_embeddings", "SYNJT0001"))
    assert embeddings.height == len(WELLS) and sum(c.startswith("VAE_") for c in embeddings.columns) == 32
    clusters = pl.read_parquet(lake.study_file("treatment_clusters"))
    assert set(clusters["representation"]) == {"regionprops", "vae", "cellprofiler"}
    silhouettes = pl.read_parquet(lake.study_file("cluster_silhouettes"))
    best = silhouettes.sort("silhouette", descending=True).group_by("representation", maintain_order=True).first()
    for row in best.iter_rows(named=True):
        chosen = clusters.filter(pl.col("representation") == row["representation"])["cluster"].n_unique()
        assert chosen == row["k"]
    validation = pl.read_parquet(lake.study_file("cluster_validation"))
    assert validation["p_value"].is_between(0, 1).all() and "ari_true_phenotype_group" in validation.columns
    summary = pl.read_parquet(lake.study_file("hierarchical_summary"))
    members = pl.read_parquet(lake.study_file("hierarchical_clusters"))
    stability = pl.read_parquet(lake.study_file("hierarchical_stability"))
    for row in summary.iter_rows(named=True):  # each clustered representation: its cut is its most stable k
        mine = members.filter(pl.col("representation") == row["representation"])
        assert mine.height == row["n_active"] and mine["cluster"].n_unique() <= row["best_k"]
        curve = stability.filter(pl.col("representation") == row["representation"])
        assert curve.filter("chosen")["k"].to_list() == [row["best_k"]]
        assert row["stability"] == pytest.approx(curve["mean_ari"].max())
    report = (lake.root / "reports" / "study" / "report.md").read_text()
    assert "0.0548" in report and "Table 1" in report and "Random Forest" in report
    assert "Clusters of the active treatments" in report
    for link in report.split("](figures/")[1:]:
        assert (lake.root / "reports" / "study" / "figures" / link.split(")")[0]).exists()


def test_crop_network_embeds_each_plate_with_a_network_trained_on_the_others(study):
    lake, runs, _ = study
    cells = pl.read_parquet(lake.table_glob("single_cell_crops"))
    embeddings = pl.read_parquet(lake.table_glob("crop_embeddings"))
    # one row per site with cells, the mean class probabilities of its cells (one class per treatment)
    features = [c for c in embeddings.columns if c.startswith("CropNet_")]
    assert len(features) == 44 and embeddings["n_cells"].sum() == cells.height
    np.testing.assert_allclose(embeddings.select(features).sum_horizontal().to_numpy(), 1.0, rtol=1e-4)
    folds = sorted((lake.root / "models" / "crop_network").glob("*.pt"))
    bundles = [torch.load(path, weights_only=True) for path in folds]
    assert [bundle["embedded_plates"] for bundle in bundles] == [["SYNJT0001", "SYNJT0003"], ["SYNJT0002"]]
    metrics = pl.read_parquet(lake.study_file("crop_classifier_metrics"))
    assert metrics["variant"].to_list() == [
        "Single-cell crops, pooled per image (held-out plates)", "Single-cell crops, pooled per well (held-out plates)",
        "Single-cell crops, pooled per image (split by well)", "Single-cell crops, pooled per well (split by well)",
        "Single-cell crops, pooled per image (the study's split: by image)"]
    assert metrics["n_test"][:2].to_list() == [embeddings.height, embeddings.select("Metadata_Plate", "Metadata_Well")
                                                .n_unique()]
    for level in ("image", "well"):
        profiles = pl.read_parquet(lake.table_glob(f"profiles_{level}_crop_cnn"))
        assert set(profiles["Metadata_Normalization"]) == {"none", "mad_robustize"}
    report = (lake.root / "reports" / "study" / "report.md").read_text()
    assert "Crop CNN" in report and "crop_cnn" in report
    forests_and_cnns = pl.read_parquet(lake.study_file("classifier_metrics"))
    with duckdb.connect(str(lake.duckdb_path), read_only=True) as connection:
        headline = connection.sql("select model, balanced_accuracy from classifier_headline").pl()
    assert headline.height == forests_and_cnns.height + metrics.height and "crop_cnn" in set(headline["model"])
    assert headline["balanced_accuracy"].is_sorted(descending=True)


def test_sql_models_are_assets_and_answer_questions(study):
    lake, runs, _ = study
    materialized = {event.asset_key.path[-1] for event in runs["views"].get_asset_materialization_events()}
    assert {"compound_summary", "top_compounds_by_map", "dmso_qc_by_plate", "features_most_changed",
            "map_headline", "wells_failing_qc", "treatment_clusters", "hierarchical_summary"} <= materialized
    with duckdb.connect(str(lake.duckdb_path), read_only=True) as connection:
        top = connection.sql("select count(*), max(mean_average_precision) from top_compounds_by_map").fetchall()[0]
        assert top[0] == 25 and 0 < top[1] <= 1
        dmso = connection.sql("select plate, dmso_wells from dmso_qc_by_plate order by plate").fetchall()
        assert dmso == [(plate, 5) for plate in PLATES]
        changed = connection.sql("select max(rank), count(distinct treatment) from features_most_changed").fetchall()[0]
        assert changed == (5, 43)
        clustered = connection.sql("select count(*) from hierarchical_summary").fetchall()[0][0]
        assert clustered == pl.read_parquet(lake.study_file("hierarchical_summary")).height



def test_map_report_scores_sister_compounds_and_the_planted_biology(study):
    lake, runs, _ = study
    sister = pl.read_parquet(lake.study_file("sister_summary"))
    assert sister.height == 5 * 2  # representations x normalisations, treatment consensus of well profiles
    assert set(sister["level"]) == {"well"} and (sister["n_compounds"] == 43).all()  # DMSO is not ranked
    scored = sister.filter(pl.col("status") == "scored")
    assert scored.height == sister.height and scored["mean_map"].is_between(0, 1).all()
    per_target = pl.read_parquet(lake.study_file("sister_per_target"))
    assert (per_target["n_profiles"] >= 2).all()  # only targets two compounds share
    truth = pl.read_parquet(lake.study_file("truth_correlation"))
    assert truth.height == 10 and set(truth["status"]) == {"scored"}  # generated plates carry the truth
    assert truth["pearson"].is_between(-1, 1).all() and (truth["n_compounds"] > 2).all()
    metadata = runs["study"].asset_materializations_for_node("map_report")[0].metadata
    assert "0.14" in metadata["sister_compounds"].value and "pearson" in metadata["truth_correlation"].value
    report = (lake.root / "reports" / "study" / "report.md").read_text()
    assert "## Sister compounds" in report and "## How much of the planted biology" in report
    with duckdb.connect(str(lake.duckdb_path), read_only=True) as connection:
        views = connection.sql("select count(*) from sister_summary").fetchall()[0][0]
        assert views == 10 and connection.sql("select count(*) from truth_correlation").fetchall()[0][0] == 10

"""The mAP report: how well each representation retrieves a treatment's replicates against DMSO,
compounds that share a target (CPJUMP1's sister compounds) and, on generated plates, the planted
biology."""

import dagster as dg
import polars as pl
from pydantic import Field

from morph_assets.defs.automation import STUDY
from morph_assets.defs.jobs import STUDY_LEVEL
from morph_assets.defs.profiles.checks import POSITIVE_CONTROLS_RETRIEVED, positive_controls_result
from morph_assets.lib.plot import map_scatter, to_png
from morph_assets.lib.profiles import SOURCE_TABLES, selected_feature_names, usable_features
from morph_assets.lib.report import figure_markdown, frame_to_markdown, png_markdown
from morph_assets.lib.retrieval import (
    CPJUMP1_SISTER_FRACTION,
    SCORED,
    SISTER_SUMMARY_SCHEMA,
    TRUTH_CORRELATION_SCHEMA,
    consensus_profiles,
    read_truth,
    runs_table,
    score_profiles,
    score_sister_compounds,
    summary_pivot,
    truth_row,
)
from morph_assets.lib.schema import (
    LEVELS,
    MAP_PER_TREATMENT,
    MAP_SUMMARY,
    NORMALIZATION,
    PERT_INAME,
    PLATE,
    PLATE_LAYOUT,
    SISTER_PER_TARGET,
    SISTER_SUMMARY,
    TARGET_LIST,
    TREATMENT,
    TRUTH_CORRELATION,
    WELL,
    profile_table,
)
from morph_assets.resources import LakeResource

#: How many treatments ``top_treatments`` lists.
TOP_TREATMENTS = 15
#: The headline metric's definition, as the report, the SQL views and the README word it.
MAP_DEFINITION = "mAP = mean over treatments of each treatment's mean average precision"
#: ``map_summary.mean_ap`` shown under its meaning: the mean AP over every query profile (each
#: treatment weighted by its number of profiles), not the headline mAP.
MEAN_AP_OVER_PROFILES = "mean_ap_over_profiles"


class MapReportConfig(dg.Config):
    """Permutation null and seed of the p-values."""

    null_size: int = Field(default=10000, description="Random rankings per null distribution (copairs' default).")
    seed: int = Field(default=0, description="Seed of the null distributions.")


@dg.asset(description="Replicate retrieval: mAP, p-value and fraction retrieved per representation and setting; "
                      "sister-compound retrieval; on generated plates, agreement with the planted phenotypes.",
          deps=["treatment_profiles", "vae_embeddings", "crop_network"], tags=STUDY_LEVEL, group_name="profiles", kinds={"parquet", "polars"},
          automation_condition=STUDY,
          check_specs=[dg.AssetCheckSpec(POSITIVE_CONTROLS_RETRIEVED, asset="map_report",
                                         description="at least half the positive controls are retrieved (q < 0.05)")])
def map_report(context: dg.AssetExecutionContext, config: MapReportConfig, lake: LakeResource) -> dg.MaterializeResult:
    """Replicate retrieval (mAP with copairs' semantics, cosine similarity) for every representation.

    A treatment's profile is a query; its replicates (the same compound in other wells and on
    replicate plates) are positives, the DMSO wells of its plate negatives, as CPJUMP1.
    Settings: pooled, same well position only, different well position only, by CPJUMP1's meaning
    (same well on replicate plates) and by the study's (well distance below the 10th percentile of
    non-zero distances); image level (the study) and well level (CPJUMP1); un-normalised (the
    study) and DMSO-normalised with feature selection (the field). Per treatment: mAP, permutation
    p-value, Benjamini-Hochberg q-value, retrieved if q < 0.05; "fraction retrieved" per setting.
    Tables ``map_summary`` and ``map_per_treatment``. A setting without replicates (one plate has
    no "same well on another plate") is a row of ``map_summary`` with status "no replicate pairs"
    and the counts that explain it; a study where no setting has any is reported, not failed.

    Also on every representation's treatment-level consensus profiles (the median of its well
    profiles, both normalisations): CPJUMP1's sister-compound retrieval (a compound's positives
    are the compounds sharing a target, its negatives those sharing none; one mAP per target;
    tables ``sister_summary`` and ``sister_per_target``) and, when the plate folders hold the
    generator's ``GroundTruth/compound_phenotypes.tsv``, the Pearson and Spearman correlation of
    the active compounds' pairwise cosine similarities with those of their true phenotype
    vectors (table ``truth_correlation``; "no ground truth" on real plates).
    """
    store = lake.lake()
    runs, tables, profiled = [], [], None
    sister_rows, sister_tables, truth_rows = [], [], []
    truth = read_truth([lake.plate_folder(plate) for plate in store.plates_present(PLATE_LAYOUT)])
    for representation in SOURCE_TABLES:
        if not store.plates_present(profile_table("well", representation)):
            continue
        by_level = {level: pl.read_parquet(store.table_glob(profile_table(level, representation))) for level in LEVELS}
        if representation == "cellprofiler":
            profiled = by_level["well"].select(PLATE, WELL)
        kept = selected_feature_names(
            store, representation, by_level["well"].filter(pl.col(NORMALIZATION) == "mad_robustize"))
        for level, profiles in by_level.items():
            for normalization in ("none", "mad_robustize"):
                subset = profiles.filter(pl.col(NORMALIZATION) == normalization)
                features = usable_features(subset) if normalization == "none" else usable_features(subset, kept)
                found, per_treatment = score_profiles(subset, features, representation=representation, level=level,
                                                      null_size=config.null_size, seed=config.seed, log=context.log.info)
                runs.extend(found)
                tables.append(per_treatment)
                if level == "well":
                    consensus = consensus_profiles(subset, features)
                    labels = dict(representation=representation, level=level, normalization=normalization)
                    row, per_target = score_sister_compounds(consensus, features, null_size=config.null_size,
                                                             seed=config.seed, **labels)
                    sister_rows.append(row)
                    sister_tables.append(per_target)
                    truth_rows.append(truth_row(consensus, features, truth, **labels))
    if not runs:
        tables_looked_at = ", ".join(profile_table("well", representation) for representation in SOURCE_TABLES)
        raise dg.Failure(description=f"nothing to score: no plate has well profiles in the lake ({tables_looked_at}); "
                         "materialize well_profiles for a plate first")
    summary = runs_table(runs)
    per_treatment = pl.concat(tables, how="diagonal_relaxed")
    store.write_study(MAP_SUMMARY, summary)
    store.write_study(MAP_PER_TREATMENT, per_treatment)
    sister = pl.DataFrame(sister_rows, schema=SISTER_SUMMARY_SCHEMA)
    truth_table = pl.DataFrame(truth_rows, schema=TRUTH_CORRELATION_SCHEMA)
    store.write_study(SISTER_SUMMARY, sister)
    store.write_study(SISTER_PER_TARGET, pl.concat(sister_tables, how="diagonal_relaxed"))
    store.write_study(TRUTH_CORRELATION, truth_table)
    headline = per_treatment.filter(
        (pl.col("representation") == "cellprofiler") & (pl.col("level") == "well")
        & (pl.col("normalization") == "mad_robustize") & (pl.col("setting") == "pooled"))
    metadata = {
        "dagster/row_count": per_treatment.height,
        "summary": dg.MetadataValue.md(f"{MAP_DEFINITION} (fraction retrieved at q < 0.05)\n\n"
                                       + frame_to_markdown(summary_pivot(summary), max_rows=100)),
        "runs": dg.MetadataValue.md(frame_to_markdown(summary.rename({"mean_ap": MEAN_AP_OVER_PROFILES}), max_rows=200)),
        "settings_scored": int((summary["status"] == SCORED).sum()),
        "settings_not_scored": int((summary["status"] != SCORED).sum()),
        "sister_compounds": dg.MetadataValue.md(
            "Sister-compound retrieval on treatment consensus profiles: mAP over targets shared by two or more "
            f"compounds, fraction of targets retrieved at q < 0.05 (CPJUMP1, CellProfiler, A549 24 h: "
            f"{CPJUMP1_SISTER_FRACTION:.2f})\n\n"
            + frame_to_markdown(sister.drop("reason", "seconds"), max_rows=40)),
        "truth_correlation": dg.MetadataValue.md(
            "Correlation of the active compounds' pairwise cosine similarities (treatment consensus profiles) with "
            "those of the generator's true phenotype vectors\n\n" + frame_to_markdown(truth_table, max_rows=40)),
    }
    unscored = summary.filter(pl.col("status") != SCORED)
    if unscored.height:
        reasons = unscored.group_by("status", "setting", "level").agg(pl.len().alias("profile_sets"),
                                                                     pl.col("reason").first())
        metadata["not_scored"] = dg.MetadataValue.md(frame_to_markdown(reasons.sort("status", "setting", "level")))
        context.log.info(f"{unscored.height} of {summary.height} retrieval settings not scored "
                         f"({', '.join(sorted(set(unscored['status'])))}); see map_summary.reason")
    if headline.height:
        metadata["plot_map_vs_p_cellprofiler"] = dg.MetadataValue.md(figure_markdown(png_markdown(to_png(map_scatter(
            headline, title="CellProfiler Mean_, well level, DMSO-normalised, pooled").figure), "mAP vs -log10 p"),
            "Each treatment's mAP against its permutation p-value (-log10); red: retrieved (q < 0.05). "
            "CellProfiler Mean_ profiles, well level, DMSO-normalised, pooled setting."))
        # Best first; a treatment without a score (no replicate ranked) goes last, not first.
        ranked = headline.sort(["mean_average_precision", TREATMENT], descending=[True, False],
                               nulls_last=True)
        metadata["top_treatments"] = dg.MetadataValue.md(
            f"The {min(TOP_TREATMENTS, ranked.height)} treatments with the highest mAP (CellProfiler Mean_, well "
            "level, DMSO-normalised, pooled), best first\n\n" + frame_to_markdown(ranked.select(
                TREATMENT, PERT_INAME, TARGET_LIST, "mean_average_precision",
                "p_value", "corrected_p_value"), max_rows=TOP_TREATMENTS))
    layout = pl.read_parquet(store.table_glob(PLATE_LAYOUT))
    return dg.MaterializeResult(metadata=metadata,
                                check_results=[positive_controls_result(per_treatment, layout, profiled)])

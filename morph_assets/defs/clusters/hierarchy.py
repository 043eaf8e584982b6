"""hierarchical_clusters: the active treatments grouped at a resolution chosen by stability."""

import dagster as dg
import numpy as np
import polars as pl
from pydantic import Field

from morph_assets.defs.automation import STUDY
from morph_assets.defs.clusters.assets import CLUSTERED_REPRESENTATIONS, true_phenotypes
from morph_assets.defs.jobs import STUDY_LEVEL
from morph_assets.lib.models import (
    LINKAGE_METHOD,
    LINKAGE_METRIC,
    adjusted_rand,
    lake_treatment_matrix,
    stable_hierarchical,
)
from morph_assets.lib.plot import category_scatter, stability_curve, to_png
from morph_assets.lib.profiles import TREATMENT
from morph_assets.lib.report import figure_markdown, frame_to_markdown, png_markdown
from morph_assets.lib.schema import (
    DMSO,
    HIERARCHICAL_CLUSTERS,
    HIERARCHICAL_STABILITY,
    HIERARCHICAL_SUMMARY,
    MAP_PER_TREATMENT,
    PERT_INAME,
    PLATE_LAYOUT,
    TARGET_LIST,
    TREATMENT_CLUSTERS,
)
from morph_assets.lib.tasks import skip_row, write_skipped
from morph_assets.resources import LakeResource

#: The retrieval run whose verdict defines "active": CPJUMP1's (well level, DMSO-normalised, pooled).
ACTIVE_RUN = {"level": "well", "normalization": "mad_robustize", "setting": "pooled"}
SUMMARY_SCHEMA = {"representation": pl.String, "n_active": pl.Int64, "best_k": pl.Int64, "k_at_range_end": pl.Boolean,
                  "stability": pl.Float64,
                  "cluster_sizes": pl.String, "n_with_true_group": pl.Int64, "ari_true_phenotype_group": pl.Float64}


class HierarchyConfig(dg.Config):
    """Range of k, bootstraps and seed of the stability cut."""

    k_min: int = Field(default=2, description="Smallest number of clusters tried.")
    k_max: int = Field(default=12, description="Largest number of clusters tried.")
    n_bootstraps: int = Field(default=30, description="Feature resamples per representation.")
    seed: int = Field(default=0, description="Seed of the resampling.")


def active_treatments(per_treatment: pl.DataFrame, representation: str) -> set[str]:
    """Treatments (not DMSO) that a representation retrieves among their replicates at q < 0.05."""
    needed = {TREATMENT, PERT_INAME, "representation", "below_corrected_p", *ACTIVE_RUN}
    if not needed <= set(per_treatment.columns):  # no setting had replicates: nothing was scored
        return set()
    run = per_treatment.filter(pl.col("representation") == representation,
                               *(pl.col(name) == value for name, value in ACTIVE_RUN.items()))
    retrieved = run.filter(pl.col("below_corrected_p") & (pl.col(PERT_INAME).fill_null("") != DMSO))
    return set(retrieved[TREATMENT].to_list())


def _figure(axes, alt: str, caption: str) -> dg.MetadataValue:  # noqa: ANN001
    return dg.MetadataValue.md(figure_markdown(png_markdown(to_png(axes.figure), alt), caption))


@dg.asset(description="Average-linkage clusters of the active treatments, cut at the most stable k.",
          deps=["treatment_profiles", "vae_embeddings", "map_report", "treatment_clusters"], tags=STUDY_LEVEL,
          group_name="clusters", kinds={"scipy", "parquet"}, automation_condition=STUDY)
def hierarchical_clusters(context: dg.AssetExecutionContext, config: HierarchyConfig,
                          lake: LakeResource) -> dg.MaterializeResult:
    """Beside the study's KMeans of every treatment: the treatments with a phenotype (retrieved
    among their replicates, q < 0.05, in ``map_per_treatment`` at well level, DMSO-normalised,
    pooled) clustered by average linkage on the cosine distance of their consensus profiles (the
    same treatment-level medians ``treatment_clusters`` uses), cut at the k in k_min..k_max whose
    partition is most stable when the features are bootstrapped (mean ARI with the full-data
    partition). Tables ``hierarchical_clusters`` (membership, with the UMAP coordinates of
    ``treatment_clusters``), ``hierarchical_stability`` (per k) and ``hierarchical_summary`` (per
    representation, with the ARI against the generator's phenotype groups on generated plates)."""
    store = lake.lake()
    per_treatment = pl.read_parquet(store.study_file(MAP_PER_TREATMENT))
    umap = pl.read_parquet(store.study_file(TREATMENT_CLUSTERS))
    truth = true_phenotypes(lake, store.plates_present(PLATE_LAYOUT))
    memberships, curves, summaries, metadata, skipped = [], [], [], {}, []
    for representation in CLUSTERED_REPRESENTATIONS:
        found = lake_treatment_matrix(store, representation)
        active = active_treatments(per_treatment, representation)
        aggregates = found[0].filter(pl.col(TREATMENT).is_in(active)) if found else pl.DataFrame()
        if aggregates.height < config.k_min + 1:
            reason = f"{aggregates.height} active treatments with a complete profile; k = {config.k_min} needs more"
            skipped.append(skip_row(representation, "", "", reason))
            context.log.warning(f"{representation} not clustered: {reason}")
            continue
        try:
            cut = stable_hierarchical(aggregates.select(found[1]).to_numpy(), seed=config.seed,
                                      k_range=range(config.k_min, config.k_max + 1), n_bootstraps=config.n_bootstraps)
        except ValueError as error:  # e.g. an all-zero profile, whose cosine distance is undefined
            skipped.append(skip_row(representation, "", "", str(error)))
            context.log.warning(f"{representation} not clustered: {error}")
            continue
        members = aggregates.select([c for c in (TREATMENT, PERT_INAME, TARGET_LIST) if c in aggregates.columns])
        members = members.with_columns(pl.lit(representation).alias("representation"),
                                       pl.Series("cluster", cut.labels)).join(
            umap.filter(pl.col("representation") == representation).select(TREATMENT, "umap_1", "umap_2"),
            on=TREATMENT, how="left")
        if truth is not None:
            members = members.join(truth.select(TREATMENT, "phenotype_group"), on=TREATMENT, how="left")
        memberships.append(members)
        curves.append(cut.stability.with_columns(pl.lit(representation).alias("representation"),
                                                 (pl.col("k") == cut.best_k).alias("chosen")))
        sizes = np.bincount(cut.labels)
        row = {"representation": representation, "n_active": members.height, "best_k": cut.best_k,
               # the most stable k at the top of the range: more stable structure may lie beyond it
               "k_at_range_end": cut.best_k == cut.stability["k"].max(),
               "stability": cut.stability.filter(pl.col("k") == cut.best_k)["mean_ari"][0],
               "cluster_sizes": " ".join(str(int(size)) for size in sorted(sizes, reverse=True)),
               "n_with_true_group": None, "ari_true_phenotype_group": None}
        if truth is not None:  # the planted groups of the clustered treatments that truly have a phenotype
            planted = members.filter(pl.col("phenotype_group").is_not_null()
                                     & ~pl.col("phenotype_group").is_in(["inactive", DMSO]))
            row["n_with_true_group"] = planted.height
            row["ari_true_phenotype_group"] = adjusted_rand(planted["phenotype_group"].to_list(),
                                                            planted["cluster"].to_list()) if planted.height else None
        summaries.append(row)
        context.log.info(f"{representation}: {members.height} active treatments, k {cut.best_k}, "
                         f"stability {row['stability']:.3f}, ARI vs truth {row['ari_true_phenotype_group']}")
        metadata[f"plot_stability_{representation}"] = _figure(
            stability_curve(cut.stability, cut.best_k, title=f"{representation}: stability by k"), "stability",
            f"{representation}: mean ARI between the full-data cut and {config.n_bootstraps} feature-bootstrap cuts "
            "(bars: one standard deviation); the dashed line is the chosen k.")
        placed = members.drop_nulls(["umap_1", "umap_2"])
        if placed.height:
            xy = placed.select("umap_1", "umap_2").to_numpy()
            targets = placed[TARGET_LIST].fill_null("?").str.split("|").list.first().to_list() \
                if TARGET_LIST in placed.columns else ["?"] * placed.height
            for name, colours in (("cluster", [str(c) for c in placed["cluster"]]), ("target", targets)):
                metadata[f"plot_umap_by_{name}_{representation}"] = _figure(
                    category_scatter(xy, colours, legend_title=name,
                                     title=f"{representation}: active treatments, UMAP by {name}"),
                    f"umap by {name}", f"{representation}: the active treatments on the UMAP of treatment_clusters, "
                    f"coloured by {'hierarchical cluster' if name == 'cluster' else 'first target'}.")
    write_skipped(store, "hierarchical_clusters", skipped)
    summary = pl.DataFrame(summaries, schema=SUMMARY_SCHEMA)
    table = pl.concat(memberships, how="diagonal_relaxed") if memberships else pl.DataFrame(
        schema={TREATMENT: pl.String, "representation": pl.String, "cluster": pl.Int32})
    store.write_study(HIERARCHICAL_CLUSTERS, table)
    store.write_study(HIERARCHICAL_STABILITY, pl.concat(curves) if curves else pl.DataFrame(schema={
        "k": pl.Int64, "mean_ari": pl.Float64, "sd_ari": pl.Float64, "n_bootstraps": pl.Int64,
        "representation": pl.String, "chosen": pl.Boolean}))
    store.write_study(HIERARCHICAL_SUMMARY, summary)
    if skipped:
        metadata["skipped"] = dg.MetadataValue.md(frame_to_markdown(pl.DataFrame(skipped).select("item", "reason")))
    return dg.MaterializeResult(metadata={
        "dagster/row_count": table.height, "method": f"{LINKAGE_METHOD} linkage, {LINKAGE_METRIC} distance",
        "summary": dg.MetadataValue.md(frame_to_markdown(summary, float_precision=3)), **metadata})

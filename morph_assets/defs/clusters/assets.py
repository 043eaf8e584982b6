"""treatment_clusters and cluster_validation: which treatments act alike, and is it real."""

import dagster as dg
import numpy as np
import polars as pl
from pydantic import Field

from morph_assets.defs.automation import STUDY
from morph_assets.defs.jobs import STUDY_LEVEL
from morph_assets.lib.models import (
    adjusted_rand,
    choose_kmeans,
    cosine_similarity_pairs,
    embed_2d,
    lake_treatment_matrix,
    within_vs_between,
)
from morph_assets.lib.plot import category_scatter, feature_boxplot, silhouette_curve, similarity_distributions, to_png
from morph_assets.lib.profiles import (
    TREATMENT,
    annotate,
    drop_incomplete_rows,
    image_features,
    usable_features,
)
from morph_assets.lib.report import figure_markdown, frame_to_markdown, png_markdown
from morph_assets.lib.retrieval import TRUTH_FILE
from morph_assets.lib.schema import (
    BROAD_SAMPLE,
    CELLPROFILER_MEAN,
    CLUSTER_SILHOUETTES,
    CLUSTER_VALIDATION,
    CONTROL_TYPE,
    DMSO,
    PERT_INAME,
    PLATE_LAYOUT,
    TARGET_LIST,
    TREATMENT_CLUSTERS,
    profile_table,
    treatment_table,
)
from morph_assets.lib.tasks import skip_row, write_skipped
from morph_assets.resources import LakeResource

#: The study's "extracted features" (regionprops), its VAE embeddings, and CellProfiler's profiles.
CLUSTERED_REPRESENTATIONS = ("regionprops", "vae", "cellprofiler")
#: Fewest treatments clustered: k = 2 and 3 both possible, so the silhouette has a choice.
MIN_CLUSTERED_TREATMENTS = 4
EMPTY_MEMBERSHIP = {
    TREATMENT: pl.String, PERT_INAME: pl.String, TARGET_LIST: pl.String,
    CONTROL_TYPE: pl.String, "representation": pl.String, "cluster": pl.Int32,
    **{name: pl.Float64 for name in ("umap_1", "umap_2", "tsne_1", "tsne_2")},
}


class ClusterConfig(dg.Config):
    """KMeans search range and seed."""

    k_min: int = Field(default=2, description="Smallest k tried (the study: 2).")
    k_max: int = Field(default=15, description="Largest k tried (the study: 15).")
    seed: int = Field(default=0, description="Seed of KMeans, UMAP and t-SNE.")


@dg.asset(description="KMeans clusters of treatments per representation, with UMAP and t-SNE maps.",
          deps=["treatment_profiles", "vae_embeddings"], tags=STUDY_LEVEL, group_name="clusters", kinds={"sklearn", "parquet"},
          automation_condition=STUDY)
def treatment_clusters(context: dg.AssetExecutionContext, config: ClusterConfig, lake: LakeResource) -> dg.MaterializeResult:
    """KMeans on treatment-level profiles (median of DMSO-normalised, selected well profiles) for
    k = 2..15, k chosen by silhouette (all silhouettes kept in ``cluster_silhouettes``), with UMAP
    and t-SNE coordinates; membership in ``treatment_clusters`` (one row per representation and
    treatment, with its targets), pictures coloured by cluster and by target."""
    store = lake.lake()
    memberships, silhouettes, metadata, skipped = [], [], {}, []

    def skip(representation: str, reason: str) -> None:
        skipped.append(skip_row(representation, "", "", reason))
        context.log.warning(f"{representation} not clustered: {reason}")

    needed = max(MIN_CLUSTERED_TREATMENTS, config.k_min + 1)
    for representation in CLUSTERED_REPRESENTATIONS:
        found = lake_treatment_matrix(store, representation)
        if found is None:
            skip(representation, f"no {profile_table('well', representation)} table or no usable feature in it")
            continue
        aggregates, features = found
        if aggregates.height < needed:
            skip(representation, f"{aggregates.height} treatments with complete profiles; KMeans from k = "
                 f"{config.k_min} with a silhouette needs at least {needed}")
            continue
        x = aggregates.select(features).to_numpy()
        selection = choose_kmeans(x, k_range=range(config.k_min, config.k_max + 1), seed=config.seed)
        umap_xy = embed_2d(x, method="umap", seed=config.seed)
        tsne_xy = embed_2d(x, method="tsne", seed=config.seed)
        keep = [c for c in (TREATMENT, PERT_INAME, TARGET_LIST, CONTROL_TYPE)
                if c in aggregates.columns]
        membership = aggregates.select(keep).with_columns(
            pl.lit(representation).alias("representation"), pl.Series("cluster", selection.labels.astype(np.int32)),
            pl.Series("umap_1", umap_xy[:, 0]), pl.Series("umap_2", umap_xy[:, 1]),
            pl.Series("tsne_1", tsne_xy[:, 0]), pl.Series("tsne_2", tsne_xy[:, 1]))
        memberships.append(membership)
        silhouettes.append(selection.silhouettes.with_columns(pl.lit(representation).alias("representation")))
        first_target = membership[TARGET_LIST].fill_null(DMSO).str.split("|").list.first().to_list() \
            if TARGET_LIST in membership.columns else ["?"] * membership.height
        clusters = [str(c) for c in selection.labels]
        context.log.info(f"{representation}: {len(aggregates)} treatments x {len(features)} features, best k {selection.best_k}")
        metadata[f"{representation}_best_k"] = selection.best_k
        # Each plot under its own key with a caption: the UI hides long Markdown behind a link named by the key.
        silhouette = silhouette_curve(selection.silhouettes, selection.best_k, title=f"{representation}: silhouette by k")
        metadata[f"plot_silhouette_{representation}"] = dg.MetadataValue.md(figure_markdown(png_markdown(
            to_png(silhouette.figure), "silhouette"),
            f"{representation}: silhouette score (and KMeans inertia) against k; the vertical line marks the "
            "chosen k."))
        for name, xy in (("umap", umap_xy), ("tsne", tsne_xy)):
            metadata[f"plot_{name}_by_cluster_{representation}"] = dg.MetadataValue.md(figure_markdown(png_markdown(
                to_png(category_scatter(xy, clusters, legend_title="cluster",
                                        title=f"{representation}: {name.upper()}, KMeans k={selection.best_k}").figure),
                f"{name} by cluster"),
                f"{representation}: treatments in 2-D by {name.upper()}, coloured by KMeans cluster "
                f"(k={selection.best_k})."))
        metadata[f"plot_umap_by_target_{representation}"] = dg.MetadataValue.md(figure_markdown(png_markdown(
            to_png(category_scatter(umap_xy, first_target, title=f"{representation}: UMAP by (first) target",
                                    legend_title="target").figure),
            "umap by target"), f"{representation}: treatments in 2-D by UMAP, coloured by their first target gene."))
    write_skipped(store, "treatment_clusters", skipped)
    if skipped:
        metadata["skipped"] = dg.MetadataValue.md(frame_to_markdown(pl.DataFrame(skipped).select("item", "reason")))
    if not memberships:  # too few treatments (a small test plate): say so, and leave empty tables
        context.log.warning("no representation had enough treatments to cluster; tables left empty")
        memberships.append(pl.DataFrame(schema=EMPTY_MEMBERSHIP))
        silhouettes.append(pl.DataFrame(schema={"k": pl.Int64, "silhouette": pl.Float64, "representation": pl.String}))
    table = pl.concat(memberships, how="diagonal_relaxed")
    store.write_study(TREATMENT_CLUSTERS, table)
    store.write_study(CLUSTER_SILHOUETTES, pl.concat(silhouettes, how="diagonal_relaxed"))
    sizes = table.group_by("representation", "cluster").len().sort("representation", "cluster")
    return dg.MaterializeResult(metadata={"dagster/row_count": table.height,
                                          "cluster_sizes": dg.MetadataValue.md(frame_to_markdown(sizes, max_rows=60)),
                                          **metadata})


def true_phenotypes(lake: LakeResource, plates: list[str]) -> pl.DataFrame | None:
    """The generator's ground truth (treatment -> phenotype group, activity) when a plate has it."""
    for plate in plates:
        path = lake.plate_folder(plate) / TRUTH_FILE
        if path.exists():
            truth = pl.read_csv(path, separator="\t", infer_schema_length=10000)
            return truth.with_columns(pl.coalesce(BROAD_SAMPLE, PERT_INAME).alias(TREATMENT)).select(
                TREATMENT, "phenotype_group", "activity")
    return None


@dg.asset(description="Are clusters real? Within vs between similarity and agreement with the true phenotype "
                      "groups.",
          deps=["treatment_clusters", "treatment_profiles", "cellprofiler_mean"], tags=STUDY_LEVEL, group_name="clusters",
          kinds={"scipy", "parquet"}, automation_condition=STUDY)
def cluster_validation(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """Are clusters real? For each representation's clusters: cosine similarity of the treatments'
    CellProfiler profiles within vs between clusters (one-sided Mann-Whitney U, within > between),
    violin and box plots; box plots of cell area and compactness for the five most frequent
    compounds; on generated plates, the adjusted Rand index of clusters against the true phenotype
    groups and against active/inactive, so we know whether clustering finds what is there."""
    store = lake.lake()
    clusters = pl.read_parquet(store.study_file(TREATMENT_CLUSTERS))
    reference_table = treatment_table("cellprofiler")
    if store.has_table(reference_table):
        reference = pl.read_parquet(store.study_file(reference_table))
    else:
        reference = pl.DataFrame(schema={TREATMENT: pl.String})
    features = usable_features(reference)
    truth = true_phenotypes(lake, store.plates_present(PLATE_LAYOUT))
    rows, metadata, skipped = [], {}, []
    if clusters.is_empty():
        skipped.append(skip_row("all", "", "", "treatment_clusters clustered no representation (see its reasons)"))
    for (representation,), members in clusters.group_by(["representation"], maintain_order=True):
        joined = members.join(reference.select([TREATMENT, *features]), on=TREATMENT, how="inner")
        joined, incomplete = drop_incomplete_rows(joined, features)  # e.g. a treatment whose wells had no cells
        if incomplete:
            context.log.info(f"{representation}: {incomplete} treatments without a complete CellProfiler "
                             "profile left out")
        sizes = joined["cluster"].value_counts()["count"] if joined.height else pl.Series([], dtype=pl.UInt32)
        if not features or sizes.len() < 2 or sizes.max() < 2:
            reason = (f"{joined.height} clustered treatments have a CellProfiler consensus profile "
                      f"({len(features)} usable features) in {sizes.len()} cluster(s); the test needs pairs both "
                      "within and between clusters")
            skipped.append(skip_row(representation, "", "", reason))
            context.log.warning(f"{representation} clusters not validated: {reason}")
            continue
        x = joined.select(features).to_numpy()
        separation = within_vs_between(x, joined["cluster"].to_numpy())
        row = {"representation": representation, "n_treatments": joined.height,
               "n_clusters": members["cluster"].n_unique(), **separation.as_row()}
        if truth is not None:
            labelled = members.join(truth, on=TREATMENT, how="left")
            active = labelled.filter(pl.col("phenotype_group").is_not_null()
                                     & ~pl.col("phenotype_group").is_in(["inactive", DMSO]))
            row["ari_true_phenotype_group"] = adjusted_rand(active["phenotype_group"].to_list(), active["cluster"].to_list())
            row["ari_active_vs_inactive"] = adjusted_rand(
                (labelled["activity"] > 0.15).to_list(), labelled["cluster"].to_list())  # weak phenotypes look inactive
        rows.append(row)
        violin, _ = similarity_distributions(*cosine_similarity_pairs(x, joined["cluster"].to_numpy()),
                                             title=f"{representation} clusters: CellProfiler cosine similarity")
        metadata[f"plot_similarity_{representation}"] = dg.MetadataValue.md(figure_markdown(png_markdown(
            to_png(violin.figure), "within vs between"),
            f"{representation} clusters: CellProfiler cosine similarity of treatment pairs within vs between "
            "clusters."))
        context.log.info(f"{representation}: within {separation.median_within:.3f} vs between "
                         f"{separation.median_between:.3f}, p {separation.p_value:.2e}")
    table = pl.DataFrame(rows) if rows else pl.DataFrame(schema={"representation": pl.String, "n_treatments": pl.Int64})
    store.write_study(CLUSTER_VALIDATION, table)
    write_skipped(store, "cluster_validation", skipped)
    if skipped:
        metadata["skipped"] = dg.MetadataValue.md(frame_to_markdown(pl.DataFrame(skipped).select("item", "reason")))
    per_image = annotate(image_features("cellprofiler", pl.read_parquet(store.table_glob(CELLPROFILER_MEAN))),
                         pl.read_parquet(store.table_glob(PLATE_LAYOUT))) \
        if store.plates_present(CELLPROFILER_MEAN) else pl.DataFrame()
    for feature in ("Mean_Cells_AreaShape_Area", "Mean_Cells_AreaShape_Compactness"):
        if feature in per_image.columns and per_image.drop_nulls([feature, PERT_INAME]).height:
            metadata[f"plot_boxplot_{feature}"] = dg.MetadataValue.md(figure_markdown(png_markdown(to_png(feature_boxplot(
                per_image.drop_nulls(feature), group_col=PERT_INAME, feature=feature, top=5,
                title=f"{feature}: five most frequent compounds").figure), feature),
                f"{feature} per image for the five most frequent compounds (box plots)."))
    return dg.MaterializeResult(metadata={"dagster/row_count": table.height,
                                          "validation": dg.MetadataValue.md(frame_to_markdown(table, float_precision=4)),
                                          **metadata})


"""study_report: the study's Tables 1 and 2 with our numbers beside them, and what differs."""

import dagster as dg
import polars as pl

from morph_assets.defs.automation import STUDY
from morph_assets.defs.jobs import STUDY_LEVEL
from morph_assets.lib.plot import category_scatter, map_scatter, silhouette_curve, stability_curve, to_png
from morph_assets.lib.report import (
    embed_figures,
    figure_link,
    frame_to_markdown,
    hierarchical_clusters_markdown,
    render_report,
    sister_compounds_markdown,
    table1_markdown,
    table2_markdown,
    truth_markdown,
)
from morph_assets.lib.retrieval import summary_pivot
from morph_assets.lib.schema import (
    CLASSIFIER_METRICS,
    CLUSTER_SILHOUETTES,
    CLUSTER_VALIDATION,
    CROP_CLASSIFIER_METRICS,
    CROP_REPRESENTATION,
    HIERARCHICAL_STABILITY,
    HIERARCHICAL_SUMMARY,
    MAP_PER_TREATMENT,
    MAP_SUMMARY,
    PLATE_LAYOUT,
    SISTER_SUMMARY,
    TREATMENT_CLUSTERS,
    TRUTH_CORRELATION,
)
from morph_assets.lib.synthetic import SyntheticConfig
from morph_assets.lib.tasks import read_skipped
from morph_assets.resources import LakeResource

REPORT_FOLDER = "reports/study"
MODEL_NAMES = {"random_forest": "Random Forest", "small_cnn": "CNN", "crop_cnn": "Crop CNN"}
#: Our settings that follow the study's definition of position, under the study's row names.
STUDY_SETTING_ROWS = {"pooled": "pooled", "same (study)": "same", "different (study)": "different"}


def table1_rows(metrics: pl.DataFrame) -> pl.DataFrame:
    """Classifier metrics in Table 1's shape: unweighted models under the study's names (the
    like-for-like rows), class-weighted ones as extra versions."""
    return metrics.with_columns(
        pl.col("model").replace(MODEL_NAMES).alias("model"),
        # the crop CNN balances classes by sampling, which its variant's row text and the note below say
        pl.when((pl.col("class_weighting") == "none") | (pl.col("model") == "crop_cnn")).then(pl.col("variant"))
        .otherwise(pl.col("variant") + " + class weights").alias("version"),
    )


def table2_rows(summary: pl.DataFrame) -> pl.DataFrame:
    """mAP summary rows in Table 2's shape (image raw and well normalised; regionprops, VAE, CellProfiler)."""
    chosen = summary.filter(
        ((pl.col("level") == "image") & (pl.col("normalization") == "none"))
        | ((pl.col("level") == "well") & (pl.col("normalization") == "mad_robustize"))
    ).filter(pl.col("representation").is_in(["regionprops", "vae", "cellprofiler", CROP_REPRESENTATION]))
    return chosen.select(
        pl.col("setting").replace(STUDY_SETTING_ROWS).alias("setting"), "representation", "level",
        (pl.col("normalization") != "none").alias("normalised"),
        # the mAP (mean over treatments of each treatment's mAP), the number every other table heads with
        pl.col("mean_map").alias("mean_average_precision"), "fraction_retrieved", "status",
    )


def not_computed_markdown(summary: pl.DataFrame | None, skipped: dict[str, pl.DataFrame | None]) -> str | None:
    """What the study could not compute on these plates and why: retrieval settings without
    replicate pairs (from ``map_summary``) and models or clusters skipped for lack of data."""
    parts = []
    if summary is not None and "status" in summary.columns:
        unscored = summary.filter(pl.col("status") != "scored")
        if unscored.height:
            grouped = unscored.group_by("status", "setting", "level", maintain_order=True).agg(
                pl.len().alias("profile_sets"), pl.col("reason").first()).sort("status", "setting", "level")
            parts.append(f"**Retrieval.** {unscored.height} of {summary.height} retrieval settings were not scored "
                         "(one row per setting and level; the counts are in `map_summary`):\n\n"
                         + frame_to_markdown(grouped, max_rows=40))
    for asset, table in skipped.items():
        if table is not None and table.height:
            shown = table.select("item", "variant", "detail", "reason")
            parts.append(f"**{asset}** skipped {table.height} item(s):\n\n" + frame_to_markdown(shown, max_rows=40))
    return "\n\n".join(parts) if parts else None


def _read(store, table: str) -> pl.DataFrame | None:  # noqa: ANN001
    return pl.read_parquet(store.study_file(table)) if store.has_table(table) else None


def _classifier_metrics(store) -> pl.DataFrame | None:  # noqa: ANN001
    """Table 1's rows: the study's forests and CNNs, then the crop network's pooled predictions."""
    frames = [frame for frame in (_read(store, CLASSIFIER_METRICS), _read(store, CROP_CLASSIFIER_METRICS))
              if frame is not None]
    return pl.concat(frames, how="diagonal_relaxed") if frames else None


@dg.asset(description="The study's Tables 1 and 2 with our numbers beside them, figures and what differs.",
          deps=["treatment_classifiers", "crop_network", "map_report", "treatment_clusters", "cluster_validation",
                "hierarchical_clusters"], tags=STUDY_LEVEL,
          group_name="report", kinds={"markdown"}, automation_condition=STUDY)
def study_report(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """A readable report (``data_lake/reports/study/report.md`` with its figures): the study's
    Table 1 (classifiers) and Table 2 (mAP) laid out as published with our numbers beside them,
    the full mAP grid, clusters and their validation, and what differs from the study and why."""
    store = lake.lake()
    metrics, summary = _classifier_metrics(store), _read(store, MAP_SUMMARY)
    per_treatment, clusters = _read(store, MAP_PER_TREATMENT), _read(store, TREATMENT_CLUSTERS)
    silhouettes, validation = _read(store, CLUSTER_SILHOUETTES), _read(store, CLUSTER_VALIDATION)
    sister, truth = _read(store, SISTER_SUMMARY), _read(store, TRUTH_CORRELATION)
    hierarchy, stability = _read(store, HIERARCHICAL_SUMMARY), _read(store, HIERARCHICAL_STABILITY)
    plates = store.plates_present(PLATE_LAYOUT)
    sections: list[tuple[str, str]] = []
    images: dict[str, bytes] = {}
    skipped = {asset: read_skipped(store, asset)
               for asset in ("treatment_classifiers", "vae_model", "crop_network", "treatment_clusters",
                             "cluster_validation")}
    sections.append(("Data", f"{len(plates)} plate(s): {', '.join(plates)}. Treatments are compounds of the "
                     "JUMP-Target-1 layout; DMSO is the negative control. Every number below is computed by the "
                     "pipeline from these plates; the study's numbers are its published Tables 1 and 2."))
    missing = not_computed_markdown(summary, skipped)
    if missing:
        sections.append(("What these plates cannot show", missing + "\n\nA replicate is another profile of the "
                         "same treatment: another site of the well (image level), another well, or another plate. "
                         "Settings and models that need replicates the plates do not have are reported here "
                         "instead of scored."))
    if metrics is not None and metrics.height == 0:
        metrics = None
    if metrics is not None:
        sections.append(("Table 1: treatment classification", table1_markdown(table1_rows(metrics)) + (
            "\n\nSplits are by well (sites of one well never straddle train and test); the study's split was by "
            "image. The majority baseline always predicts the most frequent training label (DMSO). Balanced "
            "accuracy is the mean recall per class, which a majority-class predictor cannot inflate. The Crop CNN "
            "rows are the crop network's predictions (class-balanced sampling, flips, rotations, intensity jitter), "
            "its cells' outputs averaged per image or per well. In the held-out plates rows every plate is predicted "
            "by a network trained on the other replicate plates only, a stricter split than by well; the split by "
            "well and the study's split rows each come from one network trained on 85 % of the wells or images.")))
    if summary is not None:
        sections.append(("Table 2: mean average precision", table2_markdown(table2_rows(summary))))
        sections.append(("Every retrieval setting", "mAP (fraction retrieved at q < 0.05)\n\n"
                         + frame_to_markdown(summary_pivot(summary), max_rows=100)))
    if per_treatment is not None:
        headline = per_treatment.filter((pl.col("representation") == "cellprofiler") & (pl.col("level") == "well")
                                        & (pl.col("normalization") == "mad_robustize") & (pl.col("setting") == "pooled"))
        if headline.height:
            axes = map_scatter(headline, title="CellProfiler, well level, normalised, pooled")
            images["map_cellprofiler"] = to_png(axes.figure)
            sections.append(("Which treatments are retrieved", figure_link("map_cellprofiler", "mAP vs -log10 p") + (
                "\n\nEach point is a treatment: its mAP (x) against its permutation p-value (y, -log10); red "
                "points are retrieved (Benjamini-Hochberg q < 0.05). CellProfiler Mean_ profiles, well level, "
                "DMSO-normalised, pooled setting.")))
    if sister is not None:
        sections.append(("Sister compounds: retrieval by shared target", sister_compounds_markdown(sister)))
    if truth is not None:
        sections.append(("How much of the planted biology each representation recovers", truth_markdown(truth)))
    if clusters is not None and silhouettes is not None:
        body = []
        for (representation,), members in clusters.group_by(["representation"], maintain_order=True):
            scores = silhouettes.filter(pl.col("representation") == representation)
            best = int(scores.sort(["silhouette", "k"], descending=[True, False])["k"][0])
            axes = silhouette_curve(scores, best, title=f"{representation}: silhouette")
            images[f"silhouette_{representation}"] = to_png(axes.figure)
            axes = category_scatter(members.select("umap_1", "umap_2").to_numpy(), [str(c) for c in members["cluster"]],
                                    title=f"{representation}: UMAP by cluster", legend_title="cluster")
            images[f"umap_{representation}"] = to_png(axes.figure)
            body.append(f"**{representation}**: best k = {best} over {members.height} treatments.\n\n"
                        + figure_link(f"silhouette_{representation}") + " " + figure_link(f"umap_{representation}"))
        sections.append(("Clusters", "\n\n".join(body) or "No representation was clustered (see above)."))
    if validation is not None:
        sections.append(("Cluster validation", frame_to_markdown(validation, float_precision=4) + (
            "\n\nMann-Whitney U, one-sided (within-cluster CellProfiler cosine similarity greater than between). "
            "ARI columns compare clusters with the generator's true phenotype groups (active treatments) and "
            "with active vs inactive, on generated plates only.")))
    if hierarchy is not None and stability is not None:
        sections.append(("Clusters of the active treatments, cut where they are stable",
                         hierarchical_clusters_markdown(hierarchy) + "\n\n" + _stability_links(hierarchy, stability,
                                                                                                images)))
    sections.append(("What differs from the study, and why", _differences(metrics, summary)))
    path = render_report(sections, images, store.root / REPORT_FOLDER,
                         title="morph_assets: the study reproduced, and what the field's recipe adds")
    context.log.info(f"report written to {path}")
    # The whole report, its figures inside the text: the UI has no figures/ folder beside it.
    text = embed_figures(path.read_text(), images)
    return dg.MaterializeResult(metadata={"report": dg.MetadataValue.md(text),
                                          "path": dg.MetadataValue.path(str(path)), "figures": len(images)})


def _stability_links(summary: pl.DataFrame, stability: pl.DataFrame, images: dict[str, bytes]) -> str:
    """Draw each clustered representation's stability curve into ``images``; links to them."""
    links = []
    for row in summary.iter_rows(named=True):
        name = f"stability_{row['representation']}"
        curve = stability.filter(pl.col("representation") == row["representation"]).sort("k")
        images[name] = to_png(stability_curve(curve, row["best_k"], title=f"{row['representation']}: stability "
                                              "by k").figure)
        links.append(figure_link(name))
    return " ".join(links)


def _differences(metrics: pl.DataFrame | None, summary: pl.DataFrame | None) -> str:
    """The account of differences, with the numbers that support it taken from the tables."""
    demo = SyntheticConfig()  # the demo's plates
    lines = [f"- **Data.** The default plates are generated (CPJUMP1-shaped, {demo.sites_per_well} sites of "
             f"{demo.image_size} px per well, {demo.n_plates} replicate plates), not BR00116991's images (9 sites of "
             "1080 px); the study used one real plate. Absolute numbers are therefore not comparable; the comparisons "
             "between settings are."]
    if summary is not None:
        def value(representation: str, level: str, normalization: str) -> float | None:
            row = summary.filter((pl.col("representation") == representation) & (pl.col("level") == level)
                                 & (pl.col("normalization") == normalization) & (pl.col("setting") == "pooled"))
            return float(row["mean_map"][0]) if row.height and row["mean_map"][0] is not None else None
        raw, normalised = value("regionprops", "image", "none"), value("regionprops", "well", "mad_robustize")
        if raw is not None and normalised is not None:
            lines.append(f"- **Normalisation and replicates.** Regionprops features retrieve replicates with mAP "
                         f"{raw:.3f} as the study scored them (image level, raw) and {normalised:.3f} after per-plate "
                         "robust normalisation against DMSO, feature selection and well-level aggregation, with "
                         "replicate plates as positives and DMSO wells of the same plate as negatives (CPJUMP1).")
    if metrics is not None:
        best = metrics.sort("balanced_accuracy", descending=True).row(0, named=True)
        lines.append(f"- **Classification.** With ~300 treatments and one well per treatment per plate, chance is "
                     f"low and DMSO dominates: the best model ({MODEL_NAMES.get(best['model'], best['model'])}, "
                     f"{best['variant']}, {best['class_weighting']} weighting) reaches accuracy {best['accuracy']:.3f} "
                     f"and balanced accuracy {best['balanced_accuracy']:.3f} against a majority baseline of "
                     f"{best['majority_accuracy']:.3f}. Splitting by well removes the optimism of sites of one well "
                     "on both sides of the split.")
    lines.append("- **Position.** The study's same/different split (distance percentile) and CPJUMP1's (same well "
                 "on replicate plates) are both reported; they answer different questions.")
    return "\n".join(lines)

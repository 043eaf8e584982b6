"""Profiles stage: per-plate image and well profiles, then treatment consensus over all plates."""

import time
import warnings

import dagster as dg
import numpy as np
import polars as pl

from morph_assets.defs.automation import PER_PLATE, STUDY
from morph_assets.defs.jobs import PLATE_PROFILES_LEVEL, STUDY_LEVEL
from morph_assets.defs.partitions import plates_partitions
from morph_assets.defs.profiles.checks import DMSO_WELLS_CONSISTENT, dmso_wells_result
from morph_assets.lib.plot import plate_heatmap, to_png
from morph_assets.lib.profiles import (
    NORMALIZATION,
    SOURCE_TABLES,
    annotate,
    feature_columns,
    image_features,
    plate_profiles,
    selected_features,
    treatment_consensus,
    usable_features,
)
from morph_assets.lib.report import figure_markdown, frame_to_markdown, png_markdown
from morph_assets.lib.schema import (
    LEVELS,
    METADATA_PREFIX,
    PLATE,
    PLATE_LAYOUT,
    SELECTED_FEATURES,
    WELL,
    profile_table,
    selected_table,
    treatment_table,
)
from morph_assets.resources import LakeResource

#: Representations computed per plate from the well-level feature tables (embeddings come later,
#: from a model trained over all plates).
PLATE_REPRESENTATIONS = ("pixel_statistics", "regionprops", "cellprofiler")


@dg.asset(
    description="Per plate: image- and well-level profiles of each representation, raw and normalised to "
                "DMSO.",
    partitions_def=plates_partitions,
    deps=["plate_layout", "raw_images", "regionprops_features", "cellprofiler_mean"],
    automation_condition=PER_PLATE,
    tags=PLATE_PROFILES_LEVEL,
    group_name="profiles",
    kinds={"parquet", "polars"},
    check_specs=[dg.AssetCheckSpec(DMSO_WELLS_CONSISTENT, asset="well_profiles",
                                   description="DMSO wells sit near their plate's DMSO median after normalisation")],
)
def well_profiles(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """One plate's profiles for every representation: pixel statistics (the study's baseline),
    regionprops aggregates (its enhanced features) and CellProfiler ``Mean_`` features.

    Each at image level (one row per site, as the study) and well level (median over sites, as
    CPJUMP1), un-normalised and normalised against the plate's DMSO wells (robust MAD z-score,
    pycytominer's ``mad_robustize``), told apart by ``Metadata_Normalization``. Tables
    ``profiles_<level>_<representation>``. Feature selection happens over all plates in
    ``treatment_profiles``, so that every plate keeps the same columns.
    """
    plate = context.partition_key
    store = lake.lake()
    layout_file = store.plate_file(PLATE_LAYOUT, plate)
    if not layout_file.exists():
        raise dg.Failure(description=f"plate {plate}: no plate_layout file at {layout_file}; materialize plate_layout first")
    layout = pl.read_parquet(layout_file)
    written, heatmap, check = [], None, None
    for representation in PLATE_REPRESENTATIONS:
        source = store.plate_file(SOURCE_TABLES[representation], plate)
        if not source.exists():
            context.log.warning(f"plate {plate}: {SOURCE_TABLES[representation]} has no file yet; {representation} skipped")
            continue
        started = time.perf_counter()
        per_image = annotate(image_features(representation, pl.read_parquet(source)), layout)
        for level in LEVELS:
            profiles = plate_profiles(per_image, level=level)
            path = store.write_plate(profile_table(level, representation), plate, profiles)
            normalized = profiles.filter(pl.col(NORMALIZATION) == "mad_robustize")
            written.append({"representation": representation, "level": level, "rows": normalized.height,
                            "features": len(feature_columns(profiles)), "file": str(path.relative_to(store.root))})
            if level == "well" and representation == "cellprofiler":
                heatmap = _distance_from_dmso(normalized)
            if level == "well" and (check is None or representation == "cellprofiler"):
                check = dmso_wells_result(normalized, plate)
        context.log.info(f"plate {plate}: {representation} profiles in {time.perf_counter() - started:.1f} s")
    if not written:
        raise dg.Failure(description=f"plate {plate}: no feature table to profile yet (run the features stage first)")
    metadata = {
        "dagster/row_count": sum(row["rows"] for row in written),
        "tables": dg.MetadataValue.md(frame_to_markdown(pl.DataFrame(written))),
    }
    if heatmap is not None:
        metadata["plot_distance_from_dmso"] = dg.MetadataValue.md(figure_markdown(png_markdown(to_png(plate_heatmap(
            heatmap, title=f"{plate}: median |robust z| of CellProfiler features per well",
            colorbar_label="median |z| vs DMSO").figure), "distance from DMSO"),
            f"{plate}: how far each well's CellProfiler profile lies from the plate's DMSO wells "
            "(median absolute robust z over features) on the 384-well plate map."))
    return dg.MaterializeResult(metadata=metadata, check_results=[check] if check is not None else [])


def _distance_from_dmso(normalized_wells: pl.DataFrame) -> dict[str, float]:
    """Median absolute robust z-score of each well: how far it sits from the plate's DMSO."""
    features = feature_columns(normalized_wells)
    values = np.abs(normalized_wells.select(pl.col(features).cast(pl.Float64)).to_numpy())
    values[~np.isfinite(values)] = np.nan
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a well with no finite feature: NaN, grey on the map
        medians = np.nanmedian(values, axis=1)
    return dict(zip(normalized_wells[WELL].to_list(), medians.tolist(), strict=True))


@dg.asset(description="Over all plates: selected features and one consensus profile per treatment.",
          deps=["well_profiles"], tags=STUDY_LEVEL, group_name="profiles", kinds={"parquet", "polars"},
          automation_condition=STUDY)
def treatment_profiles(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """Consensus profile of every treatment over its wells and replicate plates, per representation.

    Feature selection (pycytominer's NaN, variance, correlation > 0.9 and blocklist operations,
    plus JUMP's drop of features beyond |z| 500) is fitted once on the normalised well profiles
    of every plate. Writes ``selected_profiles_<representation>`` (normalised, selected well
    profiles), ``treatment_profiles_<representation>`` (median per treatment with its compound
    name, targets and control type) and ``selected_features`` (which features each kept).
    """
    store = lake.lake()
    summary, kept_rows = [], []
    for representation in PLATE_REPRESENTATIONS:
        table = profile_table("well", representation)
        if not store.plates_present(table):
            context.log.warning(f"{table}: no plate yet; {representation} skipped")
            continue
        wells = pl.read_parquet(store.table_glob(table)).filter(pl.col(NORMALIZATION) == "mad_robustize")
        started = time.perf_counter()
        kept = selected_features(wells)
        if not kept:  # e.g. a handful of wells: every feature correlates with another
            kept = usable_features(wells)
            context.log.warning(f"{representation}: feature selection kept nothing ({wells.height} wells); "
                                f"using all {len(kept)} usable features instead")
        selected = wells.select([*[c for c in wells.columns if c.startswith(METADATA_PREFIX)], *kept])
        consensus = treatment_consensus(selected, kept)
        store.write_study(selected_table(representation), selected)
        store.write_study(treatment_table(representation), consensus)
        kept_rows.extend({"representation": representation, "feature": name} for name in kept)
        summary.append({"representation": representation, "plates": wells[PLATE].n_unique(),
                        "wells": wells.height, "features_in": len(feature_columns(wells)), "features_kept": len(kept),
                        "treatments": consensus.height, "seconds": round(time.perf_counter() - started, 1)})
        context.log.info(f"{representation}: {len(kept)} of {len(feature_columns(wells))} features kept, "
                         f"{consensus.height} treatments")
    if not summary:
        raise dg.Failure(description="no well profiles in the lake yet: materialize well_profiles for a plate first")
    store.write_study(SELECTED_FEATURES, pl.DataFrame(kept_rows, schema={"representation": pl.String, "feature": pl.String}))
    return dg.MaterializeResult(metadata={
        "dagster/row_count": sum(row["treatments"] for row in summary),
        "representations": dg.MetadataValue.md(frame_to_markdown(pl.DataFrame(summary))),
    })

"""Asset checks of the profiles stage: are the DMSO wells a sound reference, and are the positive
controls retrieved (if they are not, nothing else will be)."""

import dagster as dg
import numpy as np
import polars as pl

from morph_assets.lib.profiles import usable_features
from morph_assets.lib.report import frame_to_markdown
from morph_assets.lib.schema import (
    BROAD_SAMPLE,
    CONTROL_TYPE,
    NEGATIVE_CONTROL,
    PERT_INAME,
    PLATE,
    POSITIVE_CONTROL_PREFIX,
    TREATMENT,
    WELL,
)

DMSO_WELLS_CONSISTENT = "dmso_wells_consistent"
POSITIVE_CONTROLS_RETRIEVED = "positive_controls_retrieved"

#: A DMSO well whose median |robust z| against its own plate's DMSO exceeds this is an outlier.
DMSO_OUTLIER_Z = 3.0
#: More than this share of outlying DMSO wells makes the normalisation reference doubtful.
MAX_DMSO_OUTLIER_FRACTION = 0.10
#: Fewer positive controls retrieved than this (q < 0.05) suggests the assay or pipeline failed.
MIN_POSCON_RETRIEVED = 0.5


def dmso_wells_result(normalised_wells: pl.DataFrame, plate: str) -> dg.AssetCheckResult:
    """DMSO wells should sit near their plate's DMSO median after normalisation."""
    dmso = normalised_wells.filter(pl.col(CONTROL_TYPE) == NEGATIVE_CONTROL)
    features = usable_features(dmso)
    if dmso.height < 3:
        return dg.AssetCheckResult(check_name=DMSO_WELLS_CONSISTENT, passed=False,
                                   description=f"plate {plate}: {dmso.height} DMSO wells, too few to normalise against")
    if not features:
        return dg.AssetCheckResult(check_name=DMSO_WELLS_CONSISTENT, passed=False,
                                   description=f"plate {plate}: no feature is finite and varying across its "
                                   f"{dmso.height} DMSO wells after normalisation, so their spread cannot be judged")
    distance = np.nanmedian(np.abs(dmso.select(features).to_numpy()), axis=1)
    outliers = dmso.filter(pl.Series(distance > DMSO_OUTLIER_Z))[WELL].to_list()
    fraction = len(outliers) / dmso.height
    return dg.AssetCheckResult(
        check_name=DMSO_WELLS_CONSISTENT, passed=fraction <= MAX_DMSO_OUTLIER_FRACTION,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"plate {plate}: {len(outliers)} of {dmso.height} DMSO wells have median |z| > {DMSO_OUTLIER_Z}",
        metadata={"plate": plate, "dmso_wells": dmso.height, "outlier_fraction": fraction, "outlier_wells": ", ".join(outliers) or "none",
                  "median_abs_z_of_dmso": float(np.median(distance))},
    )


def positive_controls_result(per_treatment: pl.DataFrame, layout: pl.DataFrame,
                             profiled: pl.DataFrame | None = None) -> dg.AssetCheckResult:
    """Most positive controls should be retrieved by the headline representation. ``profiled``
    (``Metadata_Plate``, ``Metadata_Well``) limits the layout to the wells that have profiles."""
    if profiled is not None:
        layout = layout.join(profiled.select(PLATE, WELL).unique(), on=[PLATE, WELL], how="semi")
    controls = layout.filter(pl.col(CONTROL_TYPE).str.starts_with(POSITIVE_CONTROL_PREFIX)).select(
        pl.coalesce(BROAD_SAMPLE, PERT_INAME).alias(TREATMENT), CONTROL_TYPE).unique()
    headline = per_treatment.filter((pl.col("representation") == "cellprofiler") & (pl.col("level") == "well")
                                    & (pl.col("normalization") == "mad_robustize") & (pl.col("setting") == "pooled"))
    scored = headline.join(controls, on=TREATMENT, how="inner")
    if scored.is_empty() and controls.is_empty():
        return dg.AssetCheckResult(check_name=POSITIVE_CONTROLS_RETRIEVED, passed=True,
                                   description="no positive control scored: none on the profiled wells of these plates")
    if scored.is_empty():  # e.g. one plate where every positive control sits in one well: nothing to retrieve
        return dg.AssetCheckResult(check_name=POSITIVE_CONTROLS_RETRIEVED, passed=True,
                                   description=f"no positive control scored: none of the {controls.height} profiled "
                                   "has a replicate well (or no CellProfiler well profiles); see map_summary",
                                   metadata={"positive_controls": controls.height})
    by_type = scored.group_by(CONTROL_TYPE).agg(
        pl.len().alias("controls"), pl.col("below_corrected_p").mean().alias("retrieved"),
        pl.col("mean_average_precision").mean().alias("mean_map")).sort(CONTROL_TYPE)
    fraction = float(scored["below_corrected_p"].mean())
    return dg.AssetCheckResult(
        check_name=POSITIVE_CONTROLS_RETRIEVED, passed=fraction >= MIN_POSCON_RETRIEVED, severity=dg.AssetCheckSeverity.WARN,
        description=f"{fraction:.0%} of {scored.height} positive controls retrieved (CellProfiler, well level, normalised)",
        metadata={"fraction_retrieved": fraction, "by_control_type": dg.MetadataValue.md(frame_to_markdown(by_type))},
    )

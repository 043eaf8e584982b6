"""Asset checks of the segment stage."""

import dagster as dg
import polars as pl

from morph_assets.lib.markdown import frame_to_markdown

OBJECTS_PER_SITE = "objects_per_site"
SEGMENTATION_QUALITY = "segmentation_quality"

#: More than this share of sites without a single cell means the segmentation is not usable.
MAX_EMPTY_SITE_FRACTION = 0.10
#: Median average precision at IoU 0.5 below this against ground truth fails the quality check.
MIN_MEDIAN_AP50 = 0.70


def objects_per_site_result(table: pl.DataFrame) -> dg.AssetCheckResult:
    """Blocking: enough sites have cells (the assay-development gate, here as a check)."""
    if table.is_empty():
        return dg.AssetCheckResult(check_name=OBJECTS_PER_SITE, passed=False, description="no site was segmented")
    empty = table.filter(pl.col("Count_Cells") == 0).height / table.height
    per_plate = table.group_by("Metadata_Plate").agg(
        pl.len().alias("sites"), pl.col("Count_Cells").median().alias("median_cells"),
        pl.col("Count_Cells").min().alias("min_cells"), pl.col("Count_Cells").max().alias("max_cells"),
        (pl.col("Count_Cells") == 0).mean().alias("empty_fraction"),
    ).sort("Metadata_Plate")
    return dg.AssetCheckResult(
        check_name=OBJECTS_PER_SITE, passed=empty <= MAX_EMPTY_SITE_FRACTION, severity=dg.AssetCheckSeverity.ERROR,
        metadata={"empty_site_fraction": empty, "per_plate": dg.MetadataValue.md(frame_to_markdown(per_plate))},
    )


def quality_result(table: pl.DataFrame) -> dg.AssetCheckResult:
    """Agreement with ground truth where it exists; passes with a note where it does not."""
    scored = table.filter(pl.col("cells_ap50").is_not_null()) if "cells_ap50" in table.columns else table.clear()
    if scored.is_empty():
        return dg.AssetCheckResult(check_name=SEGMENTATION_QUALITY, passed=True, description="no ground truth on these plates")
    per_plate = scored.group_by("Metadata_Plate").agg(
        pl.len().alias("sites"),
        pl.col("nuclei_ap50").median().alias("nuclei_ap50"), pl.col("nuclei_f1").median().alias("nuclei_f1"),
        pl.col("cells_ap50").median().alias("cells_ap50"), pl.col("cells_f1").median().alias("cells_f1"),
        pl.col("cells_count_error").abs().median().alias("abs_count_error"),
    ).sort("Metadata_Plate")
    worst = float(per_plate["cells_ap50"].min())
    return dg.AssetCheckResult(
        check_name=SEGMENTATION_QUALITY, passed=worst >= MIN_MEDIAN_AP50, severity=dg.AssetCheckSeverity.WARN,
        metadata={"worst_plate_median_cells_ap50": worst, "per_plate": dg.MetadataValue.md(frame_to_markdown(per_plate))},
    )

"""Asset checks of the segment stage."""

import dagster as dg
import polars as pl

from morph_assets.lib.report import frame_to_markdown, plates_label
from morph_assets.lib.schema import COUNT_CELLS, PLATE, WELL

OBJECTS_PER_SITE = "objects_per_site"
SEGMENTATION_QUALITY = "segmentation_quality"

#: A plate whose segmentation found no cell in more than this share of its sites is not usable.
#: Half, not a tenth: a cell-less well is a result (a toxic compound left no cells) and a screen
#: can hold dozens, while a segmentation that fails (wrong channel, threshold or diameter) leaves
#: most sites empty. Sparser problems are for the QC views (``wells_failing_qc``) to flag.
MAX_EMPTY_SITE_FRACTION = 0.5
#: Median average precision at IoU 0.5 below this against ground truth fails the quality check.
MIN_MEDIAN_AP50 = 0.70


def objects_per_site_result(table: pl.DataFrame) -> dg.AssetCheckResult:
    """Blocking: each plate's segmentation found cells (the assay-development gate, as a check).

    Parameters
    ----------
    table : pl.DataFrame
        The ``masks`` index of every plate of the run, WHOLE: every segmented well of each plate
        as the lake holds it (the compacted plate files), not only the wells this run segmented,
        so that re-running a few wells is judged as the plate is. Columns ``Metadata_Plate``,
        ``Metadata_Well``, ``Count_Cells`` (one row per site).

    Returns
    -------
    dagster.AssetCheckResult
        Passed when, on every plate, at most :data:`MAX_EMPTY_SITE_FRACTION` of the sites have
        no cell. Cell-less wells (every site empty) are listed in the metadata: they go on to the
        features with zero counts. Failed with a one-line description naming each failing plate,
        its empty sites and what to look at.
    """
    if table.is_empty():
        return dg.AssetCheckResult(check_name=OBJECTS_PER_SITE, passed=False, severity=dg.AssetCheckSeverity.ERROR,
                                   description="no site was segmented: the masks of these plates are empty in the lake")
    wells = table.group_by(PLATE, WELL).agg((pl.col(COUNT_CELLS) == 0).all().alias("cell_less"))
    per_plate = table.group_by(PLATE).agg(
        pl.len().alias("sites"), pl.col(WELL).n_unique().alias("wells"),
        (pl.col(COUNT_CELLS) == 0).sum().alias("empty_sites"),
        (pl.col(COUNT_CELLS) == 0).mean().alias("empty_fraction"),
        pl.col(COUNT_CELLS).median().alias("median_cells"),
        pl.col(COUNT_CELLS).min().alias("min_cells"), pl.col(COUNT_CELLS).max().alias("max_cells"),
    ).join(
        wells.group_by(PLATE).agg(
            pl.col(WELL).filter(pl.col("cell_less")).sort().str.join(" ").alias("cell_less_wells")),
        on=PLATE,
    ).sort(PLATE)
    failing = per_plate.filter(pl.col("empty_fraction") > MAX_EMPTY_SITE_FRACTION)
    label = plates_label(per_plate[PLATE].to_list())
    if failing.is_empty():
        description = (f"{label}: every plate has cells in at least {1 - MAX_EMPTY_SITE_FRACTION:.0%} of its sites; "
                       f"{int(wells['cell_less'].sum())} cell-less well(s) go on with zero counts")
    else:
        description = "; ".join(
            f"plate {row['Metadata_Plate']}: segmentation found no cell in {row['empty_sites']} of {row['sites']} sites "
            f"({row['empty_fraction']:.0%}, over the {MAX_EMPTY_SITE_FRACTION:.0%} allowed)"
            for row in failing.iter_rows(named=True)
        ) + "; look at the masks montage and the segmentation settings (cell_channel, nucleus diameters), then re-run masks"
    return dg.AssetCheckResult(
        check_name=OBJECTS_PER_SITE, passed=failing.is_empty(), severity=dg.AssetCheckSeverity.ERROR,
        description=description,
        metadata={"plates": label, "worst_empty_site_fraction": float(per_plate["empty_fraction"].max()),
                  "n_cell_less_wells": int(wells["cell_less"].sum()),
                  "per_plate": dg.MetadataValue.md(frame_to_markdown(per_plate))},
    )


def quality_result(table: pl.DataFrame) -> dg.AssetCheckResult:
    """Agreement with ground truth where it exists; passes with a note where it does not."""
    scored = table.filter(pl.col("cells_ap50").is_not_null()) if "cells_ap50" in table.columns else table.clear()
    if scored.is_empty():
        plates = table[PLATE].unique().to_list() if PLATE in table.columns else []
        return dg.AssetCheckResult(check_name=SEGMENTATION_QUALITY, passed=True,
                                   description=f"{plates_label(plates)}: no ground truth on these plates")
    per_plate = scored.group_by(PLATE).agg(
        pl.len().alias("sites"),
        pl.col("nuclei_ap50").median().alias("nuclei_ap50"), pl.col("nuclei_f1").median().alias("nuclei_f1"),
        pl.col("cells_ap50").median().alias("cells_ap50"), pl.col("cells_f1").median().alias("cells_f1"),
        pl.col("cells_count_error").abs().median().alias("abs_count_error"),
    ).sort(PLATE)
    worst = float(per_plate["cells_ap50"].min())
    label = plates_label(per_plate[PLATE].to_list())
    return dg.AssetCheckResult(
        check_name=SEGMENTATION_QUALITY, passed=worst >= MIN_MEDIAN_AP50, severity=dg.AssetCheckSeverity.WARN,
        description=f"{label}: median cell AP@0.5 against ground truth {worst:.2f} on the worst plate "
                    f"(at least {MIN_MEDIAN_AP50} passes)",
        metadata={"plates": label, "worst_plate_median_cells_ap50": worst, "per_plate": dg.MetadataValue.md(frame_to_markdown(per_plate))},
    )

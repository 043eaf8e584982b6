"""Asset checks of the ingest stage (evaluated in the same run as their asset)."""


from collections.abc import Iterable

import dagster as dg
import polars as pl

from morph_assets.lib.report import frame_to_markdown, plates_label
from morph_assets.lib.schema import ERROR_TABLE, PLATE, SITE, WELL

DMSO_WELLS_PRESENT = "dmso_wells_present"
ALL_WELLS_INGESTED = "all_wells_ingested"
IMAGE_QC = "image_qc"

#: An image with more than this fraction of saturated pixels is flagged (CellProfiler PercentMaximal).
MAX_SATURATED_FRACTION = 0.01
#: An image whose focus slope lies this many robust SDs below its plate and channel is flagged as blurred.
FOCUS_ROBUST_Z = -4.0


def wells_ingested_result(errors: pl.DataFrame, requested: int, plates: Iterable[str] = ()) -> dg.AssetCheckResult:
    """Pass when no requested well failed; otherwise list each failed well, file and reason.

    ``plates`` are the run's plates, named in the description and metadata.
    """
    failed = errors.filter(pl.col(WELL).is_not_null())
    label = plates_label(plates)
    return dg.AssetCheckResult(
        check_name=ALL_WELLS_INGESTED,
        passed=failed.is_empty(),
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{label}: {failed[WELL].n_unique()} of {requested} requested wells failed to ingest",
        metadata={
            "plates": label,
            "n_wells_requested": requested,
            "n_wells_failed": failed[WELL].n_unique(),
            "failures": dg.MetadataValue.md(
                frame_to_markdown(failed.drop(ERROR_TABLE)) if not failed.is_empty() else "none"),
        },
    )


def flag_images(table: pl.DataFrame) -> pl.DataFrame:
    """Return the images that fail QC: saturated, or far blurrier than their plate and channel."""
    if table.is_empty():
        return table
    by_group = [PLATE, "channel"]
    slope = pl.col("power_log_log_slope")
    robust_sd = 1.4826 * (slope - slope.median().over(by_group)).abs().median().over(by_group)
    return table.with_columns(
        ((slope - slope.median().over(by_group)) / (robust_sd + 1e-9)).alias("focus_robust_z")
    ).filter((pl.col("saturated_fraction") > MAX_SATURATED_FRACTION) | (pl.col("focus_robust_z") < FOCUS_ROBUST_Z))


def image_qc_result(table: pl.DataFrame) -> dg.AssetCheckResult:
    """Warn about saturated or out-of-focus images (they stay in the lake, flagged)."""
    flagged = flag_images(table)
    columns = [PLATE, WELL, SITE, "channel_name", "saturated_fraction", "focus_robust_z"]
    label = plates_label(table[PLATE].unique().to_list() if PLATE in table.columns else [])
    return dg.AssetCheckResult(
        check_name=IMAGE_QC,
        passed=flagged.is_empty(),
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{label}: {flagged.height} of {table.height} images saturated or out of focus",
        metadata={
            "plates": label,
            "n_images": table.height,
            "n_flagged": flagged.height,
            "flagged": dg.MetadataValue.md(frame_to_markdown(flagged.select(columns)) if not flagged.is_empty() else "none"),
        },
    )

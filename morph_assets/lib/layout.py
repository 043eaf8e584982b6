"""Plate layouts: a platemap (well -> perturbation) joined to its perturbation metadata.

The embedded layout is the real JUMP-Target-1 compound plate map used by every CPJUMP1 compound
plate (BR00116991-BR00116994 and the rest), vendored from jump-cellpainting/JUMP-Target (MIT).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import polars as pl

from morph_assets.lib.naming import NamingError, normalize_well

#: Columns of a joined plate layout, in the field's ``Metadata_`` naming (pycytominer, copairs).
LAYOUT_COLUMNS: tuple[str, ...] = (
    "Metadata_Well",
    "Metadata_broad_sample",
    "Metadata_pert_iname",
    "Metadata_target_list",
    "Metadata_pert_type",
    "Metadata_control_type",
    "Metadata_solvent",
    "Metadata_InChIKey",
)
NEGATIVE_CONTROL = "negcon"
EMBEDDED_PLATEMAP = "JUMP-Target-1_compound_platemap.tsv"
EMBEDDED_METADATA = "JUMP-Target-1_compound_metadata.tsv"

_PLATEMAP_REQUIRED = ("well_position", "broad_sample")
_METADATA_REQUIRED = ("broad_sample", "pert_iname", "target_list", "pert_type", "control_type")
# The metadata marks DMSO with broad_sample "NA"; the platemap leaves DMSO wells empty.
_DMSO_BROAD_SAMPLE = "NA"


class LayoutError(ValueError):
    """A platemap or perturbation metadata file that cannot be used."""


def embedded_layout_files() -> tuple[Path, Path]:
    """Return the paths of the vendored JUMP-Target-1 compound platemap and metadata TSVs."""
    folder = resources.files("morph_assets") / "data" / "jump_target"
    return Path(str(folder / EMBEDDED_PLATEMAP)), Path(str(folder / EMBEDDED_METADATA))


def _read_tsv(path: Path, required: tuple[str, ...]) -> pl.DataFrame:
    try:
        frame = pl.read_csv(
            path, separator="\t", infer_schema=False, null_values=[""], quote_char=None
        )
    except (OSError, pl.exceptions.PolarsError) as error:
        raise LayoutError(f"{path}: cannot read as a tab-separated table ({error})") from error
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise LayoutError(f"{path}: missing column(s) {missing}; found {frame.columns}")
    return frame


def read_layout(platemap_path: Path | str, metadata_path: Path | str) -> pl.DataFrame:
    """Read a platemap and its perturbation metadata and join them, one row per well.

    Parameters
    ----------
    platemap_path : path-like
        TSV with columns ``well_position``, ``broad_sample`` (empty for DMSO) and optionally
        ``solvent``, as in JUMP-Target.
    metadata_path : path-like
        TSV with columns ``broad_sample``, ``pert_iname``, ``target_list``, ``pert_type``,
        ``control_type`` (``NA`` when not a control); DMSO is the row with ``broad_sample`` ``NA``.

    Returns
    -------
    polars.DataFrame
        One row per well with :data:`LAYOUT_COLUMNS`. DMSO wells get ``Metadata_pert_iname``
        ``"DMSO"``, ``Metadata_pert_type`` ``"control"`` and ``Metadata_control_type``
        ``"negcon"``; ``Metadata_target_list`` is ``|``-separated gene symbols or null.

    Raises
    ------
    LayoutError
        If a file is unreadable, lacks a column, names an invalid or duplicated well, or
        a platemap ``broad_sample`` has no metadata row.
    """
    platemap_path, metadata_path = Path(platemap_path), Path(metadata_path)
    platemap = _read_tsv(platemap_path, _PLATEMAP_REQUIRED)
    metadata = _read_tsv(metadata_path, _METADATA_REQUIRED)

    try:
        wells = [normalize_well(well) for well in platemap["well_position"].to_list()]
    except NamingError as error:
        raise LayoutError(f"{platemap_path}: {error}") from error
    duplicated = sorted({well for well in wells if wells.count(well) > 1})
    if duplicated:
        raise LayoutError(f"{platemap_path}: well(s) listed more than once: {duplicated}")

    solvent = pl.col("solvent") if "solvent" in platemap.columns else pl.lit(None, pl.String)
    platemap = platemap.select(
        pl.Series("Metadata_Well", wells),
        pl.col("broad_sample").fill_null(_DMSO_BROAD_SAMPLE).alias("broad_sample"),
        solvent.alias("Metadata_solvent"),
    )
    metadata = metadata.with_columns(
        pl.when(pl.col(name) == "NA").then(None).otherwise(pl.col(name)).alias(name)
        for name in ("target_list", "control_type")
    ).with_columns(pl.col("broad_sample").fill_null(_DMSO_BROAD_SAMPLE))
    if metadata["broad_sample"].is_duplicated().any():
        duplicated = metadata.filter(pl.col("broad_sample").is_duplicated())["broad_sample"].unique()
        raise LayoutError(f"{metadata_path}: broad_sample(s) listed more than once: {duplicated.to_list()}")

    unknown = sorted(set(platemap["broad_sample"]) - set(metadata["broad_sample"]))
    if unknown:
        raise LayoutError(
            f"{platemap_path}: {len(unknown)} broad_sample(s) have no row in {metadata_path.name}, "
            f"e.g. {unknown[:3]}"
        )
    inchikey = pl.col("InChIKey") if "InChIKey" in metadata.columns else pl.lit(None, pl.String)
    joined = platemap.join(metadata, on="broad_sample", how="left", validate="m:1")
    is_dmso = pl.col("broad_sample") == _DMSO_BROAD_SAMPLE
    return joined.select(
        "Metadata_Well",
        pl.when(is_dmso).then(None).otherwise(pl.col("broad_sample")).alias("Metadata_broad_sample"),
        pl.when(is_dmso).then(pl.lit("DMSO")).otherwise(pl.col("pert_iname")).alias("Metadata_pert_iname"),
        pl.col("target_list").alias("Metadata_target_list"),
        pl.col("pert_type").alias("Metadata_pert_type"),
        pl.when(is_dmso)
        .then(pl.lit(NEGATIVE_CONTROL))
        .otherwise(pl.col("control_type"))
        .alias("Metadata_control_type"),
        "Metadata_solvent",
        inchikey.alias("Metadata_InChIKey"),
    ).sort("Metadata_Well")


def embedded_layout() -> pl.DataFrame:
    """Return the JUMP-Target-1 compound plate layout (384 wells, 64 DMSO, 306 compounds)."""
    return read_layout(*embedded_layout_files())

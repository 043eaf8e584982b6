"""Plate layouts: a platemap (well -> perturbation) joined to its perturbation metadata.

The embedded layout is the real JUMP-Target-1 compound plate map used by every CPJUMP1 compound
plate (BR00116991-BR00116994 and the rest), vendored from jump-cellpainting/JUMP-Target (MIT).
"""

from __future__ import annotations

from collections import Counter
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
# Column names as users write them, looked up without a "Metadata_" prefix and without case:
# JUMP-Target writes "well_position", CellProfiler / pycytominer "Metadata_Well" or
# "Metadata_well_position". Maps the lookup name to the name used below.
_COLUMN_NAMES = {
    "well_position": "well_position",
    "well": "well_position",
    "broad_sample": "broad_sample",
    "solvent": "solvent",
    "pert_iname": "pert_iname",
    "target_list": "target_list",
    "pert_type": "pert_type",
    "control_type": "control_type",
    "inchikey": "InChIKey",
}
# JUMP-Target's metadata marks DMSO with broad_sample "NA" and its platemaps leave DMSO wells
# empty; R writes missing values as "NA" too. Either spelling, in either file, is DMSO.
_DMSO_SPELLINGS = ("", "NA")
# Internal join key of DMSO, a value no broad_sample can take (they are read as stripped text).
_DMSO_KEY = "\0DMSO"
_DEFAULT_DMSO = {"pert_iname": "DMSO", "target_list": None, "pert_type": "control", "control_type": NEGATIVE_CONTROL}


class LayoutError(ValueError):
    """A platemap or perturbation metadata file that cannot be used; the message names the file and the fix."""


def embedded_layout_files() -> tuple[Path, Path]:
    """Return the paths of the vendored JUMP-Target-1 compound platemap and metadata TSVs."""
    folder = resources.files("morph_assets") / "data" / "jump_target"
    return Path(str(folder / EMBEDDED_PLATEMAP)), Path(str(folder / EMBEDDED_METADATA))


def detect_separator(path: Path) -> str:
    """Return the field separator of a delimited text file from its header line.

    A tab in the header means tab-separated (JUMP-Target's ``.tsv`` and the JUMP platemaps'
    ``.txt``), else a comma means comma-separated; a one-column header falls back on the suffix
    (``.csv`` comma, anything else tab).

    Parameters
    ----------
    path : pathlib.Path
        The file; only its first line is read.

    Returns
    -------
    str
        ``"\\t"`` or ``","``.

    Raises
    ------
    LayoutError
        If the file cannot be read as text.
    """
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            header = handle.readline()
    except (OSError, UnicodeDecodeError) as error:
        raise LayoutError(f"{path}: cannot read ({error}); save it as UTF-8 text") from error
    if "\t" in header:
        return "\t"
    if "," in header:
        return ","
    return "," if path.suffix.lower() == ".csv" else "\t"


def _accepted_spellings(name: str) -> list[str]:
    if name == "well_position":
        return ["well_position", "Metadata_well_position", "Metadata_Well"]
    return [name, f"Metadata_{name}"]


def _read_table(path: Path, required: tuple[str, ...]) -> tuple[pl.DataFrame, dict[str, str]]:
    """Read a layout table as text; return it with our column names, and ours -> the user's names."""
    separator = detect_separator(path)
    try:
        # All text: broad_samples, wells and IDs such as "00123" keep exactly what the user wrote.
        frame = pl.read_csv(
            path, separator=separator, infer_schema=False, quote_char='"' if separator == "," else None,
            encoding="utf8-lossy",
        )
    except (OSError, pl.exceptions.PolarsError) as error:
        kind = "comma" if separator == "," else "tab"
        raise LayoutError(f"{path}: cannot read as a {kind}-separated table ({error}); check the file") from error
    written: dict[str, str] = {}
    for column in frame.columns:
        ours = _COLUMN_NAMES.get(column.lstrip("\ufeff").lower().removeprefix("metadata_"))
        if ours is None:
            continue
        if ours in written:
            raise LayoutError(
                f"{path}: columns {written[ours]!r} and {column!r} both give {ours}; keep one of them"
            )
        written[ours] = column
    missing = [name for name in required if name not in written]
    if missing:
        accepted = [spelling for name in missing for spelling in _accepted_spellings(name)]
        raise LayoutError(
            f"{path}: missing column(s) {missing}; found {frame.columns}; add or rename the column "
            f"(accepted names: {accepted})"
        )
    frame = frame.select(
        # Spreadsheets pad cells with spaces; an empty or blank cell is a missing value.
        pl.col(column).str.strip_chars().replace("", None).alias(ours) for ours, column in written.items()
    )
    return frame, written


def _is_dmso(column: str) -> pl.Expr:
    return pl.col(column).is_null() | pl.col(column).is_in(list(_DMSO_SPELLINGS))


def _listed_twice(values: list[str]) -> list[str]:
    return sorted(value for value, count in Counter(values).items() if count > 1)


def read_layout(platemap_path: Path | str, metadata_path: Path | str) -> pl.DataFrame:
    """Read a platemap and its perturbation metadata and join them, one row per well.

    Both files may be tab- or comma-separated, whatever their suffix (``.tsv``, ``.txt`` as in
    the JUMP platemaps, ``.csv``); see :func:`detect_separator`. Column names are accepted as
    JUMP-Target writes them or with a ``Metadata_`` prefix (``Metadata_broad_sample``), in any
    case; the well column may be ``well_position``, ``Metadata_well_position`` or
    ``Metadata_Well``. Every value is read as text.

    Parameters
    ----------
    platemap_path : path-like
        Columns ``well_position`` (wells ``A1`` or ``A01``), ``broad_sample`` (empty or ``NA``
        for DMSO) and optionally ``solvent``, as in JUMP-Target.
    metadata_path : path-like
        Columns ``broad_sample``, ``pert_iname``, ``target_list``, ``pert_type``,
        ``control_type`` (``NA`` when not a control) and optionally ``InChIKey``. A DMSO row
        (``broad_sample`` empty or ``NA``) is optional: without one, DMSO wells get the
        defaults below and a null InChIKey.

    Returns
    -------
    polars.DataFrame
        One row per well with :data:`LAYOUT_COLUMNS`, all ``String``, wells as ``A01``. DMSO wells
        get ``Metadata_broad_sample`` null, ``Metadata_pert_iname`` ``"DMSO"``,
        ``Metadata_pert_type`` ``"control"`` (unless the metadata's DMSO row says otherwise)
        and ``Metadata_control_type`` ``"negcon"``; ``Metadata_target_list`` is
        ``|``-separated gene symbols or null.

    Raises
    ------
    LayoutError
        One line naming the file, the column as the user wrote it, the offending value and the
        fix: for an unreadable file, a missing or doubled column, an invalid or duplicated well,
        a broad_sample listed twice in the metadata, or a platemap broad_sample with no
        metadata row.
    """
    platemap_path, metadata_path = Path(platemap_path), Path(metadata_path)
    platemap, platemap_columns = _read_table(platemap_path, _PLATEMAP_REQUIRED)
    metadata, metadata_columns = _read_table(metadata_path, _METADATA_REQUIRED)
    well_column, sample_column = platemap_columns["well_position"], platemap_columns["broad_sample"]

    wells = []
    for line, well in enumerate(platemap["well_position"].to_list(), start=2):  # line 1 is the header
        try:
            wells.append(normalize_well(well or ""))
        except NamingError as error:
            raise LayoutError(
                f"{platemap_path}: column {well_column!r}, line {line}: {error}; write wells as A1 or A01"
            ) from error
    duplicated = _listed_twice(wells)
    if duplicated:
        as_written = zip(platemap["well_position"], wells, strict=True)
        written = sorted({raw for raw, well in as_written if well in duplicated})
        raise LayoutError(
            f"{platemap_path}: column {well_column!r} lists well(s) more than once: {duplicated} "
            f"(written {written}); keep one row per well"
        )

    dmso_key = pl.when(_is_dmso("broad_sample")).then(pl.lit(_DMSO_KEY)).otherwise(pl.col("broad_sample"))
    platemap = platemap.select(
        pl.Series("Metadata_Well", wells),
        dmso_key.alias("broad_sample"),
        (pl.col("solvent") if "solvent" in platemap.columns else pl.lit(None, pl.String)).alias("Metadata_solvent"),
    )
    metadata = metadata.with_columns(
        dmso_key.alias("broad_sample"),
        *(pl.col(name).replace("NA", None) for name in ("target_list", "control_type")),
    )
    if "InChIKey" not in metadata.columns:
        metadata = metadata.with_columns(pl.lit(None, pl.String).alias("InChIKey"))
    duplicated = _listed_twice(metadata["broad_sample"].to_list())
    if duplicated:
        shown = ["(DMSO: empty or NA)" if sample == _DMSO_KEY else sample for sample in duplicated]
        raise LayoutError(
            f"{metadata_path}: column {metadata_columns['broad_sample']!r} lists broad_sample(s) more than once: "
            f"{shown}; keep one row per broad_sample"
        )
    if _DMSO_KEY not in metadata["broad_sample"]:
        metadata = pl.concat(
            [metadata, pl.DataFrame([{"broad_sample": _DMSO_KEY, **_DEFAULT_DMSO}])], how="diagonal"
        )

    unknown = sorted(set(platemap["broad_sample"]) - set(metadata["broad_sample"]))
    if unknown:
        raise LayoutError(
            f"{platemap_path}: column {sample_column!r}: {len(unknown)} broad_sample(s) have no row in "
            f"{metadata_path} (column {metadata_columns['broad_sample']!r}), e.g. {unknown[:3]}; add a row "
            f"for each to {metadata_path.name}, or leave {sample_column!r} empty for DMSO wells"
        )
    joined = platemap.join(metadata, on="broad_sample", how="left", validate="m:1")
    is_dmso = pl.col("broad_sample") == _DMSO_KEY
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
        pl.col("InChIKey").alias("Metadata_InChIKey"),
    ).sort("Metadata_Well")


def embedded_layout() -> pl.DataFrame:
    """Return the JUMP-Target-1 compound plate layout (384 wells, 64 DMSO, 306 compounds)."""
    return read_layout(*embedded_layout_files())

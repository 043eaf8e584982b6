"""Plate layouts: a platemap (well -> perturbation) joined to its perturbation metadata.

The embedded layout is the real JUMP-Target-1 compound plate map used by every CPJUMP1 compound
plate (BR00116991-BR00116994 and the rest), vendored from jump-cellpainting/JUMP-Target (MIT).

Layout files are read as spreadsheets and R write them (:func:`read_text_table`): the encoding
is decided on the whole file (UTF-8 if every byte decodes, with or without a byte-order mark;
UTF-16 with its byte-order mark, Excel's "Unicode text"; else Windows-1252, what Excel writes
on Western-European Windows, with Latin-1 for the five bytes it leaves undefined), never from a
first chunk, so a ``µ`` after the first kilobytes is not garbled. Tab- or comma-separated; a
TSV whose header is quoted (R's ``write.table``) has its quotes removed; blank rows are ignored.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from importlib import resources
from pathlib import Path

import polars as pl

from morph_assets.lib.plates._naming import NamingError, normalize_well
from morph_assets.lib.schema import (
    BROAD_SAMPLE,
    CONTROL_PERT_TYPE,
    CONTROL_TYPE,
    DMSO,
    INCHIKEY,
    METADATA_PREFIX,
    NEGATIVE_CONTROL,
    PERT_INAME,
    PERT_TYPE,
    SOLVENT,
    TARGET_LIST,
    WELL,
    WELL_POSITION,
)

#: Columns of a joined plate layout, in the field's ``Metadata_`` naming (pycytominer, copairs).
LAYOUT_COLUMNS: tuple[str, ...] = (
    WELL,
    BROAD_SAMPLE,
    PERT_INAME,
    TARGET_LIST,
    PERT_TYPE,
    CONTROL_TYPE,
    SOLVENT,
    INCHIKEY,
)
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
# The file line of each row, kept for error messages (a name no user column can take).
_LINE = "\0line"
_DEFAULT_DMSO = {"pert_iname": DMSO, "target_list": None, "pert_type": CONTROL_PERT_TYPE,
                 "control_type": NEGATIVE_CONTROL}


class LayoutError(ValueError):
    """A platemap or perturbation metadata file that cannot be used; the message names the file and the fix."""


def embedded_layout_files() -> tuple[Path, Path]:
    """Return the paths of the vendored JUMP-Target-1 compound platemap and metadata TSVs.

    Returns
    -------
    platemap, metadata : pathlib.Path
        The two files shipped in ``morph_assets/data/jump_target``.
    """
    folder = resources.files("morph_assets") / "data" / "jump_target"
    return Path(str(folder / EMBEDDED_PLATEMAP)), Path(str(folder / EMBEDDED_METADATA))


def read_text(path: Path) -> str:
    """Return a text file's content, its encoding decided on every byte (see the module docstring).

    Parameters
    ----------
    path : pathlib.Path
        The file.

    Returns
    -------
    str
        The decoded text without a byte-order mark.

    Raises
    ------
    LayoutError
        If the file cannot be read, or holds NUL characters (a binary file, or UTF-16 without
        its byte-order mark).
    """
    try:
        data = path.read_bytes()
    except OSError as error:
        raise LayoutError(f"{path}: cannot read ({error.strerror or error}); check the path") from error
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16")
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            try:
                text = data.decode("cp1252")
            except UnicodeDecodeError:  # 0x81, 0x8D, 0x8F, 0x90, 0x9D: undefined in cp1252, controls in Latin-1
                text = data.decode("latin-1")
    text = text.removeprefix("\ufeff")
    if "\0" in text:
        raise LayoutError(f"{path}: holds NUL characters, so it is not a text table; save it as UTF-8 text")
    return text


def _separator_of(header: str, path: Path) -> str:
    if "\t" in header:
        return "\t"
    if "," in header:
        return ","
    if ";" in header:
        raise LayoutError(
            f"{path}: columns are separated by ';' (Excel's CSV in some locales); save it with tabs "
            "(Text (Tab delimited)) or commas as the separator"
        )
    return "," if path.suffix.lower() == ".csv" else "\t"


def detect_separator(path: Path) -> str:
    """Return the field separator of a delimited text file from its header line.

    A tab in the header means tab-separated (JUMP-Target's ``.tsv`` and the JUMP platemaps'
    ``.txt``), else a comma means comma-separated; a one-column header falls back on the suffix
    (``.csv`` comma, anything else tab).

    Parameters
    ----------
    path : pathlib.Path
        The file, decoded by :func:`read_text`.

    Returns
    -------
    str
        ``"\\t"`` or ``","``.

    Raises
    ------
    LayoutError
        If the file cannot be read as text, or its header is separated by ``;``.
    """
    return _separator_of(read_text(path).partition("\n")[0], path)


def read_text_table(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Read a tab- or comma-separated layout file as text: its header and ``(line, fields)`` rows.

    Comma-separated files follow the CSV quoting rules. Tab-separated files are read without
    quoting (a ``"`` inside a field is kept), unless the header's names are quoted, as R's
    ``write.table`` writes them; then quotes are removed as in a CSV. Rows whose fields are all
    blank are skipped; a row shorter than the header is padded with empty fields, and a longer
    one is accepted when the extra fields are blank (trailing tabs).

    Parameters
    ----------
    path : pathlib.Path
        The file (encoding: :func:`read_text`).

    Returns
    -------
    (list of str, list of (int, list of str))
        The column names as written, and every non-blank row with its 1-based line number in
        the file and exactly one field per column.

    Raises
    ------
    LayoutError
        One line naming the file: unreadable, empty, separated by ``;``, or a row with more
        (non-blank) fields than the header (the line is named).
    """
    text = read_text(path)
    separator = _separator_of(text.partition("\n")[0], path)
    quoted = separator == "," or text.lstrip().startswith('"')
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=separator, quotechar='"',
        quoting=csv.QUOTE_MINIMAL if quoted else csv.QUOTE_NONE, strict=False,
    )
    try:
        records = [(reader.line_num, fields) for fields in reader]
    except csv.Error as error:
        raise LayoutError(f"{path}: line {reader.line_num}: cannot read ({error}); check the quotes") from error
    if not records or not any(field.strip() for field in records[0][1]):
        raise LayoutError(f"{path}: is empty; write a header row, then one row per well or sample")
    header = [name.strip() for name in records[0][1]]
    while header and not header[-1]:
        header.pop()  # a trailing separator after the last name
    rows = []
    for line, fields in records[1:]:
        if not any(field.strip() for field in fields):
            continue  # a blank row: spreadsheets leave them at the end
        if len(fields) > len(header) and any(field.strip() for field in fields[len(header):]):
            kind = "comma" if separator == "," else "tab"
            raise LayoutError(
                f"{path}: line {line} has {len(fields)} {kind}-separated fields, the header {len(header)}; "
                "remove the extra fields (or quote a value that holds the separator)"
            )
        rows.append((line, (fields + [""] * len(header))[: len(header)]))
    return header, rows


def _accepted_spellings(name: str) -> list[str]:
    if name == "well_position":
        return ["well_position", WELL_POSITION, WELL]
    return [name, f"{METADATA_PREFIX}{name}"]


def _our_name(column: str) -> str | None:
    return _COLUMN_NAMES.get(column.lower().removeprefix(METADATA_PREFIX.lower()))


def _read_table(path: Path, required: tuple[str, ...]) -> tuple[pl.DataFrame, dict[str, str]]:
    """Read a layout table as text; return it with our column names (and ``_LINE``), and ours -> the user's names."""
    header, rows = read_text_table(path)
    twice = set(_listed_twice(header))
    repeated = sorted(name for name in twice if _our_name(name))
    if repeated:
        raise LayoutError(f"{path}: column(s) {repeated} appear twice in the header; keep one of each")
    # Columns we do not read may share a name, or have none: each gets its own.
    header = [f"\0{index} {name}" if name in twice or not name else name for index, name in enumerate(header)]
    # All text: broad_samples, wells and IDs such as "00123" keep exactly what the user wrote.
    frame = pl.DataFrame(
        {_LINE: [line for line, _ in rows],
         **{name: [fields[i] for _, fields in rows] for i, name in enumerate(header)}},
        schema={_LINE: pl.Int64, **dict.fromkeys(header, pl.String)},
    )
    written: dict[str, str] = {}
    for column in header:
        ours = _our_name(column)
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
            f"{path}: missing column(s) {missing}; found {header}; add or rename the column "
            f"(accepted names: {accepted})"
        )
    frame = frame.select(
        _LINE,
        # Spreadsheets pad cells with spaces; an empty or blank cell is a missing value.
        *(pl.col(column).str.strip_chars().replace("", None).alias(ours) for ours, column in written.items()),
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
    for line, well in zip(platemap[_LINE], platemap["well_position"], strict=True):
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
        pl.Series(WELL, wells),
        dmso_key.alias("broad_sample"),
        (pl.col("solvent") if "solvent" in platemap.columns else pl.lit(None, pl.String)).alias(SOLVENT),
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
        WELL,
        pl.when(is_dmso).then(None).otherwise(pl.col("broad_sample")).alias(BROAD_SAMPLE),
        pl.when(is_dmso).then(pl.lit(DMSO)).otherwise(pl.col("pert_iname")).alias(PERT_INAME),
        pl.col("target_list").alias(TARGET_LIST),
        pl.col("pert_type").alias(PERT_TYPE),
        pl.when(is_dmso)
        .then(pl.lit(NEGATIVE_CONTROL))
        .otherwise(pl.col("control_type"))
        .alias(CONTROL_TYPE),
        SOLVENT,
        pl.col("InChIKey").alias(INCHIKEY),
    ).sort(WELL)


def embedded_layout() -> pl.DataFrame:
    """Return the JUMP-Target-1 compound plate layout (384 wells, 64 DMSO, 306 compounds).

    Returns
    -------
    polars.DataFrame
        The layout as :func:`read_layout` reads it from :func:`embedded_layout_files`.
    """
    return read_layout(*embedded_layout_files())

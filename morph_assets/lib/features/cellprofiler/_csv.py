"""Read CellProfiler's ExportToSpreadsheet output and make its per-image mean table.

A CellProfiler run with ExportToSpreadsheet writes ``Image.csv`` (one row per image set, keyed by
``ImageNumber``) and one CSV per object type (``Nuclei.csv``, ``Cells.csv``, ``Cytoplasm.csv``;
one row per object, keyed by ``ImageNumber`` + ``ObjectNumber``, columns named without the object,
e.g. ``AreaShape_Area``). Gzip-compressed copies (``*.csv.gz``) are read too, and so is the
two-row header CellProfiler writes when object names go into a row of their own.

Types follow what each column means, not what its text looks like: identifiers and file
references (``Metadata_*``, ``FileName_*``, ``PathName_*``, ``URL_*``, ``MD5Digest_*`` and their
``Objects*`` forms; CellProfiler's own text measurement categories, and its Metadata module
stores every tag as text unless told otherwise) stay text, so plate ``00123`` stays ``"00123"``;
``ImageNumber`` / ``ObjectNumber`` are Int64 and ``Metadata_Site`` is Int32, as in the tables
measured here; every other column is Float64 where all its non-empty values parse as numbers
or are one of pandas' default missing-value tokens (:data:`NULL_TOKENS`: ``n/a``, ``NA``,
``NULL``, ``None``, ...), read as null; ``nan`` (what CellProfiler writes for an undefined
measurement) stays NaN. One ``n/a`` in a column of numbers does not turn it into text.

Images are keyed by ``ImageNumber``. Batch exports restart ``ImageNumber`` at 1, so a folder
whose ``Image.csv`` repeats one is only accepted when ``(Metadata_Plate, ImageNumber)`` tells
the images apart and every object CSV carries ``Metadata_Plate`` too (ExportToSpreadsheet's
"add image metadata to object files"); otherwise objects of different images would be pooled,
and it is refused. Object rows whose image is not in ``Image.csv`` are refused as well.

:func:`mean_table_from_export` computes, from CellProfiler's own per-object numbers, the same
``Count_<Object>`` / ``Mean_<Object>_<Measurement>`` table that
:func:`morph_assets.lib.features.cellprofiler.mean_table` gives for our measurements.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from morph_assets.lib.features._per_image import per_image_means
from morph_assets.lib.plates import NamingError, normalize_well
from morph_assets.lib.schema import METADATA_PREFIX, PLATE, SITE, WELL

OBJECTS: tuple[str, ...] = ("Nuclei", "Cells", "Cytoplasm")
KEY_COLUMNS: tuple[str, ...] = ("ImageNumber", "ObjectNumber")
#: Per-object columns that are identifiers or relationships, not measurements: never averaged.
NOT_AVERAGED_PREFIXES: tuple[str, ...] = ("Number_", "Parent_", "Children_")
#: CellProfiler's text measurement categories (cellprofiler_core.constants.measurement: C_METADATA,
#: C_FILE_NAME, C_PATH_NAME, C_URL, C_MD5_DIGEST and the Objects* forms): kept as written.
TEXT_PREFIXES: tuple[str, ...] = (
    METADATA_PREFIX, "FileName_", "PathName_", "URL_", "MD5Digest_", "ObjectsFileName_", "ObjectsPathName_", "ObjectsURL_",
)
#: The field-of-view number: an integer, Int32 like ``Metadata_Site`` of the measured tables.
SITE_COLUMN = SITE
PLATE_COLUMN = PLATE
WELL_COLUMN = WELL
#: Text read as a missing value in a numeric column: pandas' default ``na_values`` of ``read_csv``
#: (pandas 2.x), so a table pandas or R wrote reads as pandas reads it.
NULL_TOKENS: frozenset[str] = frozenset({
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA",
    "NULL", "NaN", "None", "n/a", "nan", "null",
})
_INTEGER_RANGES = {pl.Int64: (-(2**63), 2**63 - 1), pl.Int32: (-(2**31), 2**31 - 1)}
# Float64 holds every whole number exactly up to 2**53; integer text is parsed as Int64 first.
_EXACT_FLOAT = 2.0**53


def _find(folder: Path, stem: str) -> Path:
    for name in (f"{stem}.csv", f"{stem}.csv.gz"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"no {stem}.csv or {stem}.csv.gz in {folder}")


def has_export(folder: str | Path) -> bool:
    """Tell whether ``folder`` holds an ExportToSpreadsheet image table (``Image.csv`` or ``Image.csv.gz``).

    Parameters
    ----------
    folder : str or pathlib.Path
        A folder that may hold CellProfiler's export.

    Returns
    -------
    bool
        True when the image table is there.
    """
    folder = Path(folder)
    return any((folder / name).is_file() for name in ("Image.csv", "Image.csv.gz"))


def _text(path: Path) -> str:
    # utf-8-sig: Excel re-saves CSVs with a byte-order mark, which would otherwise stick to the first column name
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", newline="", encoding="utf-8-sig") as handle:
                return handle.read()
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start}); save it as UTF-8") from error


def _whole_numbers(path: Path, column: pl.Series, dtype: pl.DataType) -> pl.Series:
    """``column`` (stripped text, empty as null) as integers; ``1``, ``01`` and ``1.0`` are all 1."""
    integers = column.cast(pl.Int64, strict=False)  # exact over the whole Int64 range
    numbers = column.cast(pl.Float64, strict=False)  # "1.0", "1e3": whole numbers written as floats
    exact = numbers.is_finite() & (numbers == numbers.floor()) & (numbers.abs() <= _EXACT_FLOAT)
    floats = pl.DataFrame({"number": numbers, "exact": exact}).select(pl.when("exact").then("number")).to_series()
    values = integers.fill_null(floats.cast(pl.Int64))
    low, high = _INTEGER_RANGES[dtype]
    bad = (column.is_not_null() & (values.is_null() | (values < low) | (values > high))).arg_true()
    if bad.len():
        row = int(bad[0])
        whole = numbers[row] is not None and numbers[row] == numbers[row] // 1
        reason = f"is out of range (at most {high})" if whole else "is not a whole number"
        raise ValueError(f"{path}: {column.name} {column[row]!r} (data row {row + 1}) {reason}; "
                         f"{column.name} must hold integers such as 1 or 01")
    return values.cast(dtype)


def _numbers(column: pl.Series) -> pl.Series | None:
    """``column`` (stripped text, empty as null) as Float64 when it holds only numbers and null tokens."""
    numbers = column.cast(pl.Float64, strict=False)
    if (column.is_not_null() & numbers.is_null() & ~column.is_in(list(NULL_TOKENS))).any():
        return None
    return numbers


def _typed(path: Path, frame: pl.DataFrame) -> pl.DataFrame:
    """Type every column by its name (see the module docstring); ``frame`` is all text."""
    columns = []
    for name in frame.columns:
        column = frame[name]
        if name.startswith(TEXT_PREFIXES) and name != SITE_COLUMN:
            columns.append(column)
            continue
        values = column.str.strip_chars().replace("", None)
        if name in KEY_COLUMNS or name == SITE_COLUMN:
            typed = _whole_numbers(path, values, pl.Int64 if name in KEY_COLUMNS else pl.Int32)
            if name in KEY_COLUMNS and typed.null_count():
                row = int(typed.is_null().arg_true()[0])
                raise ValueError(f"{path}: {name} is empty at data row {row + 1}; every row needs its {name}")
            columns.append(typed)
            continue
        numbers = _numbers(values)
        columns.append(column if numbers is None else numbers)
    return pl.DataFrame(columns)


def read_cellprofiler_csv(path: str | Path) -> pl.DataFrame:
    """Read one ExportToSpreadsheet CSV (plain or gzip), each column typed by what it holds.

    A two-row header (object names, then feature names) is joined as ``<Object>_<Feature>``
    except for the key columns.

    Parameters
    ----------
    path : str or pathlib.Path
        ``<Name>.csv`` or ``<Name>.csv.gz``.

    Returns
    -------
    pl.DataFrame
        One row per data row. ``Metadata_*`` (but ``Metadata_Site``), ``FileName_*``,
        ``PathName_*``, ``URL_*`` and ``MD5Digest_*`` columns: String exactly as written (a
        barcode ``00123`` stays ``"00123"``); ``ImageNumber``, ``ObjectNumber``: Int64;
        ``Metadata_Site``: Int32; other columns: Float64 where every non-empty value parses
        (``nan`` included), else String.

    Raises
    ------
    ValueError
        One line naming the file: if it is empty, not UTF-8, separated by ``;`` or tabs instead
        of commas, repeats a column name, has a row of another width (the line is named), or
        holds an empty key, or a key or site that is not a whole number or out of range.
    """
    path = Path(path)
    rows = list(csv.reader(io.StringIO(_text(path))))
    if not rows:
        raise ValueError(f"{path} is empty")
    header, body = rows[0], rows[1:]
    if len(header) == 1:
        other = next((name for mark, name in ((";", "semicolons"), ("\t", "tabs")) if mark in header[0]), None)
        if other:
            raise ValueError(f"{path}: columns are separated by {other}, not commas; export with "
                             "ExportToSpreadsheet's comma delimiter (or save as CSV with ',' as the separator)")
    if "ImageNumber" not in header and body and "ImageNumber" in body[0]:
        objects, features = header, body[0]
        header = [f if f in KEY_COLUMNS or not o else f"{o}_{f}" for o, f in zip(objects, features)]
        body = body[1:]
    if len(set(header)) != len(header):
        raise ValueError(f"{path} has repeated column names")
    width = len(header)
    bad = [index for index, row in enumerate(body) if len(row) != width]
    if bad:
        row = bad[0]
        raise ValueError(f"{path}: data row {row + 1} has {len(body[row])} fields, the header {width}; "
                         "fix or remove that row (a truncated export, or a value holding an unquoted comma?)")
    frame = pl.DataFrame(
        {name: [row[i] for row in body] for i, name in enumerate(header)},
        schema={name: pl.String for name in header},
    )
    return _typed(path, frame)


def read_cellprofiler_export(
    folder: str | Path, objects: Iterable[str] = OBJECTS
) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    """Read ``Image.csv`` and the per-object CSVs of one ExportToSpreadsheet folder.

    Parameters
    ----------
    folder : str or pathlib.Path
        The export folder.
    objects : iterable of str, optional
        Object names whose tables to read, by default Nuclei, Cells and Cytoplasm.

    Returns
    -------
    (pl.DataFrame, dict[str, pl.DataFrame])
        The image table and ``{object name: per-object table}`` with the files' own column names.
    """
    folder = Path(folder)
    image_path = _find(folder, "Image")
    image = read_cellprofiler_csv(image_path)
    if "ImageNumber" not in image.columns:
        raise ValueError(f"{image_path} has no ImageNumber column; export the image table with its ImageNumber")
    tables = {}
    for name in objects:
        path = _find(folder, name)
        table = read_cellprofiler_csv(path)
        missing = [key for key in KEY_COLUMNS if key not in table.columns]
        if missing:
            raise ValueError(f"{path} lacks column(s) {missing}; found {table.columns[:6]}; "
                             "export the object table with its ImageNumber and ObjectNumber")
        tables[name] = table
    return image, tables


def _image_key(folder: Path, image: pl.DataFrame, tables: dict[str, pl.DataFrame]) -> list[str]:
    """The columns that name one image in ``Image.csv`` and in every object table."""
    if not image["ImageNumber"].is_duplicated().any():
        return ["ImageNumber"]
    by_plate = [PLATE_COLUMN, "ImageNumber"]
    if (
        PLATE_COLUMN in image.columns and image[PLATE_COLUMN].null_count() == 0
        and not image.select(by_plate).is_duplicated().any()
        and all(PLATE_COLUMN in table.columns for table in tables.values())
    ):
        return by_plate
    rows = image["ImageNumber"].is_duplicated().arg_true()
    number = image["ImageNumber"][int(rows[0])]
    repeated = [int(row) + 1 for row in rows if image["ImageNumber"][int(row)] == number]
    raise ValueError(
        f"{_find(folder, 'Image')}: ImageNumber {number} is on data rows {repeated[:5]}, so the object tables "
        "cannot tell those images apart (concatenated batch exports restart at 1); put each batch's export "
        "in its own folder, or renumber ImageNumber across Image.csv and the object CSVs together"
    )


def _refuse_orphans(folder: Path, name: str, image: pl.DataFrame, table: pl.DataFrame, key: list[str]) -> None:
    orphans = table.select(key).join(image.select(key), on=key, how="anti")
    if orphans.height:
        example = ", ".join(f"{column} {orphans[column][0]}" for column in key)
        raise ValueError(
            f"{_find(folder, name)}: {orphans.height} object row(s) belong to no image of Image.csv (e.g. {example}); "
            "copy Image.csv and the object CSVs from the same CellProfiler run"
        )


def averaged_columns(table: pl.DataFrame) -> list[str]:
    """The per-object measurement columns that go into ``Mean_`` (numeric, not keys/relations).

    Parameters
    ----------
    table : polars.DataFrame
        A per-object table of CellProfiler's export.

    Returns
    -------
    list of str
        Its measurement columns, in table order.
    """
    schema = table.schema  # built once: each .schema call walks every column
    return [
        name
        for name in table.columns
        if name not in KEY_COLUMNS and not name.startswith(NOT_AVERAGED_PREFIXES) and schema[name].is_numeric()
    ]


def mean_table_from_export(folder: str | Path, objects: Iterable[str] = OBJECTS) -> pl.DataFrame:
    """Per-image ``Count_<Object>`` and ``Mean_<Object>_<Measurement>`` from CellProfiler's objects.

    Parameters
    ----------
    folder : str or pathlib.Path
        The ExportToSpreadsheet folder (``Image.csv`` and one CSV per object type).
    objects : iterable of str
        Object types to read, by default Nuclei, Cells, Cytoplasm.

    Returns
    -------
    pl.DataFrame
        One row per image of ``Image.csv``, sorted by ``ImageNumber`` (by ``Metadata_Plate``
        first in a multi-batch export, see the module docstring), with the image's ``Metadata_*``
        columns as :func:`read_cellprofiler_csv` types them (plate, well as text; site Int32),
        ``Count_<Object>`` (Int64: the image's rows in the object's CSV, 0 for an image without
        objects) and ``Mean_<Object>_<Measurement>`` (Float64; NaN, null tokens and +-inf are
        skipped: NaN as :func:`morph_assets.lib.features.cellprofiler.mean_table` does, and an
        infinite value, e.g. a ratio over a zero area, would make the mean infinite and say
        nothing of the other objects; null for an image without objects or without a finite value).

    Raises
    ------
    ValueError
        One line naming the file: besides :func:`read_cellprofiler_csv`'s reasons, an
        ``ImageNumber`` on several rows of ``Image.csv`` that the object tables cannot tell apart,
        or object rows whose image is not in ``Image.csv``.
    """
    folder = Path(folder)
    image, tables = read_cellprofiler_export(folder, objects)
    key = _image_key(folder, image, tables)
    metadata = [column for column in image.columns if column.startswith(METADATA_PREFIX) and column not in key]
    result = image.select(*key, *metadata)
    for name, table in tables.items():
        _refuse_orphans(folder, name, result, table, key)
        count = pl.len().cast(pl.Int64).alias(f"Count_{name}")
        means = per_image_means(
            table, key, averaged_columns(table), counts=[count], skip="non-finite", prefix=f"Mean_{name}_"
        )
        result = result.join(means, on=key, how="left")
        result = result.with_columns(pl.col(f"Count_{name}").fill_null(0))
    return result.select("ImageNumber", *[c for c in result.columns if c != "ImageNumber"]).sort(key)


def export_well_table(folder: str | Path, objects: Iterable[str] = OBJECTS) -> pl.DataFrame:
    """:func:`mean_table_from_export` with every image's well checked and written as ``A01``.

    Parameters
    ----------
    folder : str or pathlib.Path
        The ExportToSpreadsheet folder.
    objects : iterable of str
        Object types to read.

    Returns
    -------
    pl.DataFrame
        :func:`mean_table_from_export`'s table, ``Metadata_Well`` normalised (``A1`` -> ``A01``).

    Raises
    ------
    ValueError
        One line naming ``Image.csv``: without a ``Metadata_Well`` column, or with a well that
        is empty or not a well of a 384-well plate (the data row and the value are named).
    """
    folder = Path(folder)
    table = mean_table_from_export(folder, objects)
    if WELL_COLUMN not in table.columns:
        raise ValueError(f"{_find(folder, 'Image')} has no {WELL_COLUMN} column; add it (CellProfiler's Metadata "
                         "module, or a LoadData CSV with Metadata_Well) so images can be assigned to wells")
    wells: dict[str | None, str] = {}
    for row, written in enumerate(table[WELL_COLUMN].to_list(), start=1):
        if written in wells:
            continue
        try:
            wells[written] = normalize_well((written or "").strip())
        except NamingError as error:
            shown = "empty" if not (written or "").strip() else repr(written)
            raise ValueError(f"{_find(folder, 'Image')}: {WELL_COLUMN} is {shown} for ImageNumber "
                             f"{table['ImageNumber'][row - 1]} ({error}); write wells as A1 or A01") from None
    return table.with_columns(pl.col(WELL_COLUMN).replace_strict(wells, return_dtype=pl.String))


def plate_well_rows(table: pl.DataFrame, folder: str | Path, plate: str, well: str) -> pl.DataFrame:
    """The rows of one plate's well in an export's well table (:func:`export_well_table`).

    An export may cover several plates (a batch run): when ``Metadata_Plate`` holds values,
    only this plate's rows are taken, compared as text (``00123`` is not ``123``). An export
    without plate values is taken to be this plate's own.

    Parameters
    ----------
    table : pl.DataFrame
        :func:`export_well_table` of ``folder``.
    folder : str or pathlib.Path
        The export folder, named in errors.
    plate : str
        The plate barcode.
    well : str
        The well, as ``A01``.

    Returns
    -------
    pl.DataFrame
        The well's image rows, ``Metadata_Plate`` set to ``plate``.

    Raises
    ------
    ValueError
        One line: the export has plate values but none is ``plate`` (the values found are
        named), or no image of the well.
    """
    image_csv = _find(Path(folder), "Image")
    if PLATE_COLUMN in table.columns and table[PLATE_COLUMN].drop_nulls().len():
        plates = table[PLATE_COLUMN].cast(pl.String)
        if not (plates == plate).any():
            found = sorted(set(plates.drop_nulls().to_list()))
            raise ValueError(f"{image_csv}: no row for plate {plate!r} ({PLATE_COLUMN} holds {found[:5]}); put "
                             f"this plate's export in its cellprofiler/ folder, or correct {PLATE_COLUMN}")
        table = table.filter(plates == plate)
    rows = table.filter(pl.col(WELL_COLUMN) == well)
    if rows.is_empty():
        raise ValueError(f"{image_csv} has no image of plate {plate!r} well {well}; "
                         "export every well of the plate, or remove the export to measure the plate here")
    return rows.with_columns(pl.lit(plate, pl.String).alias(PLATE_COLUMN))

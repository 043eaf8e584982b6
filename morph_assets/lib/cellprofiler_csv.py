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
measured here; every other column is Float64 where all its non-empty values parse as numbers.

:func:`mean_table_from_export` computes, from CellProfiler's own per-object numbers, the same
``Count_<Object>`` / ``Mean_<Object>_<Measurement>`` table that
:func:`morph_assets.lib.cellprofiler_features.mean_table` gives for our measurements.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterable
from pathlib import Path

import polars as pl

OBJECTS: tuple[str, ...] = ("Nuclei", "Cells", "Cytoplasm")
KEY_COLUMNS: tuple[str, ...] = ("ImageNumber", "ObjectNumber")
#: Per-object columns that are identifiers or relationships, not measurements: never averaged.
NOT_AVERAGED_PREFIXES: tuple[str, ...] = ("Number_", "Parent_", "Children_")
#: CellProfiler's text measurement categories (cellprofiler_core.constants.measurement: C_METADATA,
#: C_FILE_NAME, C_PATH_NAME, C_URL, C_MD5_DIGEST and the Objects* forms): kept as written.
TEXT_PREFIXES: tuple[str, ...] = (
    "Metadata_", "FileName_", "PathName_", "URL_", "MD5Digest_", "ObjectsFileName_", "ObjectsPathName_", "ObjectsURL_",
)
#: The field-of-view number: an integer, Int32 like ``Metadata_Site`` of the measured tables.
SITE_COLUMN = "Metadata_Site"


def _find(folder: Path, stem: str) -> Path:
    for name in (f"{stem}.csv", f"{stem}.csv.gz"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"no {stem}.csv or {stem}.csv.gz in {folder}")


def _text(path: Path) -> str:
    if path.suffix == ".gz":
        with gzip.open(path, "rt", newline="", encoding="utf-8") as handle:
            return handle.read()
    return path.read_text(encoding="utf-8")


def _whole_numbers(path: Path, column: pl.Series, dtype: pl.DataType) -> pl.Series:
    """``column`` (stripped text, empty as null) as integers; ``1``, ``01`` and ``1.0`` are all 1."""
    numbers = column.cast(pl.Float64, strict=False)
    bad = (column.is_not_null() & (numbers.is_null() | ~numbers.is_finite() | (numbers != numbers.floor()))).arg_true()
    if bad.len():
        row = int(bad[0])
        raise ValueError(f"{path}: {column.name} {column[row]!r} (data row {row + 1}) is not a whole number; "
                         f"{column.name} must hold integers such as 1 or 01")
    return numbers.cast(dtype)


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
            columns.append(_whole_numbers(path, values, pl.Int64 if name in KEY_COLUMNS else pl.Int32))
            continue
        try:
            columns.append(values.cast(pl.Float64, strict=True))
        except pl.exceptions.InvalidOperationError:
            columns.append(column)
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
        If the file is empty, repeats a column name, has a row of another width, or holds a
        key or site that is not a whole number.
    """
    path = Path(path)
    rows = list(csv.reader(io.StringIO(_text(path))))
    if not rows:
        raise ValueError(f"{path} is empty")
    header, body = rows[0], rows[1:]
    if "ImageNumber" not in header and body and "ImageNumber" in body[0]:
        objects, features = header, body[0]
        header = [f if f in KEY_COLUMNS or not o else f"{o}_{f}" for o, f in zip(objects, features)]
        body = body[1:]
    if len(set(header)) != len(header):
        raise ValueError(f"{path} has repeated column names")
    width = len(header)
    bad = [index for index, row in enumerate(body) if len(row) != width]
    if bad:
        raise ValueError(f"{path}: data row {bad[0] + 1} has a different number of fields than the header")
    frame = pl.DataFrame(
        {name: [row[i] for row in body] for i, name in enumerate(header)},
        schema={name: pl.String for name in header},
    )
    return _typed(path, frame)


def read_cellprofiler_export(
    folder: str | Path, objects: Iterable[str] = OBJECTS
) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    """Read ``Image.csv`` and the per-object CSVs of one ExportToSpreadsheet folder.

    Returns
    -------
    (pl.DataFrame, dict[str, pl.DataFrame])
        The image table and ``{object name: per-object table}`` with the files' own column names.
    """
    folder = Path(folder)
    image = read_cellprofiler_csv(_find(folder, "Image"))
    if "ImageNumber" not in image.columns:
        raise ValueError(f"{folder}: Image.csv has no ImageNumber column")
    tables = {}
    for name in objects:
        table = read_cellprofiler_csv(_find(folder, name))
        missing = [key for key in KEY_COLUMNS if key not in table.columns]
        if missing:
            raise ValueError(f"{folder}: {name} table lacks {missing}")
        tables[name] = table
    return image, tables


def averaged_columns(table: pl.DataFrame) -> list[str]:
    """The per-object measurement columns that go into ``Mean_`` (numeric, not keys/relations)."""
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
        One row per ``ImageNumber`` of ``Image.csv``, sorted, with the image's ``Metadata_*``
        columns as :func:`read_cellprofiler_csv` types them (plate, well as text; site Int32),
        ``Count_<Object>`` (Int64: the image's rows in the object's CSV, 0 for an image without
        objects) and ``Mean_<Object>_<Measurement>`` (Float64, NaN skipped as
        :func:`morph_assets.lib.cellprofiler_features.mean_table` does; null for an image
        without objects or whose every value is NaN).
    """
    image, tables = read_cellprofiler_export(folder, objects)
    metadata = [column for column in image.columns if column.startswith("Metadata_")]
    result = (
        image.select(pl.col("ImageNumber").cast(pl.Int64), *metadata)
        .unique(subset="ImageNumber", keep="first").sort("ImageNumber")
    )
    for name, table in tables.items():
        aggregations = [pl.len().cast(pl.Int64).alias(f"Count_{name}")]
        for column in averaged_columns(table):
            value = pl.col(column).cast(pl.Float64).fill_nan(None)
            aggregations.append(value.mean().alias(f"Mean_{name}_{column}"))
        means = table.group_by("ImageNumber").agg(aggregations)
        result = result.join(means, on="ImageNumber", how="left")
        result = result.with_columns(pl.col(f"Count_{name}").fill_null(0))
    return result.sort("ImageNumber")

"""Read CellProfiler's ExportToSpreadsheet output and make its per-image mean table.

A CellProfiler run with ExportToSpreadsheet writes ``Image.csv`` (one row per image set, keyed by
``ImageNumber``) and one CSV per object type (``Nuclei.csv``, ``Cells.csv``, ``Cytoplasm.csv``;
one row per object, keyed by ``ImageNumber`` + ``ObjectNumber``, columns named without the object,
e.g. ``AreaShape_Area``). Gzip-compressed copies (``*.csv.gz``) are read too, and so is the
two-row header CellProfiler writes when object names go into a row of their own.

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


def _typed(frame: pl.DataFrame) -> pl.DataFrame:
    """Cast string columns to Int64 (keys) or Float64 where every non-empty value parses."""
    columns = []
    for name in frame.columns:
        column = frame[name]
        values = column.str.strip_chars()
        values = pl.Series(name, values).replace("", None)
        try:
            cast = values.cast(pl.Float64, strict=True)
        except pl.exceptions.InvalidOperationError:
            columns.append(column)
            continue
        if name in KEY_COLUMNS:
            cast = cast.cast(pl.Int64)
        columns.append(cast)
    return pl.DataFrame(columns)


def read_cellprofiler_csv(path: str | Path) -> pl.DataFrame:
    """Read one ExportToSpreadsheet CSV (plain or gzip), numeric columns as numbers.

    A two-row header (object names, then feature names) is joined as ``<Object>_<Feature>``
    except for the key columns.
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
    return _typed(frame)


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

    One row per ``ImageNumber`` of ``Image.csv`` (an image without objects gets count 0 and null
    means), with the image's ``Metadata_*`` columns (plate, well, site as CellProfiler recorded
    them). Means skip NaN, as :func:`morph_assets.lib.cellprofiler_features.mean_table` does.
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

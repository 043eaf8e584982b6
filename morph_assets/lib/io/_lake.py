"""The Parquet feature lake: where each table lives, atomic writes, and per-plate compaction.

Layout (every path below ``root``)::

    wells/<table>/plate=<P>/well=<W>/part-0.parquet   one file per well, written by per-well assets
    <table>/plate=<P>/part-0.parquet                  one compacted file per plate: what SQL reads
    errors/<table>/plate=<P>/part-0.parquet           wells that failed in the latest run, and why
    lake.duckdb                                       DuckDB views over the compacted tables

The name ``errors`` alone (:data:`ALL_ERRORS`) stands for every ``errors/<table>`` together: the
``errors`` SQL view and the command line's closing summary read it.

Per-well files live under their own ``wells/`` tree so that a recursive glob over a table never
counts a row twice, and DuckDB scans one file per plate (50 plates: 41 ms) instead of one per
well (19,200 files: 2.7 s). Every file is written to a temporary name in the same folder and
renamed over the target, so readers never see half a file and a failed write leaves the previous
version in place.
"""

from __future__ import annotations

import errno
import os
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import tifffile

from morph_assets.lib.plates import normalize_well, validate_barcode
from morph_assets.lib.schema import ERROR_FILE, ERROR_MESSAGE, ERROR_TABLE, PLATE, WELL

PART_FILE = "part-0.parquet"
#: The table name that means "the failed wells of every per-well table" (see the module docstring).
ALL_ERRORS = "errors"
ERRORS_SCHEMA = {
    ERROR_TABLE: pl.String,
    PLATE: pl.String,
    WELL: pl.String,
    ERROR_FILE: pl.String,
    ERROR_MESSAGE: pl.String,
}


class LakeFullError(OSError):
    """A lake write failed for want of space (``ENOSPC``) or quota (``EDQUOT``).

    Its message names the file and the fix on one line; ``path`` is the destination (the per-well
    runner reports it as the failed well's file).
    """

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"{path}: no space left on the lake's file system; "
            f"the previous version of this file, if any, is kept. Free space on that file system (or point "
            f"MORPH_ASSETS_LAKE_ROOT at a larger one), then re-run the failed wells",
        )
        self.path = path
        self.errno = errno.ENOSPC


def _out_of_space(error: BaseException) -> bool:
    """Whether ``error`` is a full disk or quota: an ``OSError`` with that errno, or a writer that
    wraps it in its own exception (polars raises ``ComputeError: ... (os error 28)``)."""
    codes = (errno.ENOSPC, errno.EDQUOT)
    if isinstance(error, OSError) and error.errno in codes:
        return True
    return any(f"(os error {code})" in str(error) for code in codes)


def atomic_write(path: Path | str, write: Callable[[Path], object]) -> Path:
    """Write a file so that it appears whole or not at all: the one atomic write of the project.

    ``write`` writes a temporary file in the destination's folder, which is then renamed onto
    the destination (a rename within one file system is atomic), so a reader, or a run killed
    half-way, never sees a half-written file; the temporary file is removed if anything fails.

    Parameters
    ----------
    path : path-like
        Destination; parent folders are created.
    write : callable
        ``write(temporary_path)`` writes the content; its return value is ignored.

    Returns
    -------
    pathlib.Path
        The destination path.

    Raises
    ------
    LakeFullError
        When the file system is full (or over quota); the destination is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    except Exception as error:
        if _out_of_space(error):
            raise LakeFullError(path) from error
        raise
    finally:
        temporary.unlink(missing_ok=True)
    return path


def atomic_write_parquet(frame: pl.DataFrame, path: Path | str) -> Path:
    """Write ``frame`` to ``path`` so that the file appears whole or not at all.

    Parameters
    ----------
    frame : polars.DataFrame
        The table to write (zstd-compressed Parquet, statistics on).
    path : path-like
        Destination; parent folders are created.

    Returns
    -------
    pathlib.Path
        The destination path.
    """
    return atomic_write(path, lambda temporary: frame.write_parquet(temporary, compression="zstd", statistics=True))


def atomic_write_tiff(array: np.ndarray, path: Path | str, *, compression: str = "zlib") -> Path:
    """Write a label image or float image as a compressed TIFF, appearing whole or not at all.

    Parameters
    ----------
    array : numpy.ndarray
        The image.
    path : pathlib.Path or str
        Destination; its folder is created.
    compression : str, optional
        tifffile's compression, ``"zlib"`` by default.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    return atomic_write(path, lambda temporary: tifffile.imwrite(temporary, array, compression=compression))


@dataclass(frozen=True)
class Lake:
    """A feature lake rooted at a folder.

    Parameters
    ----------
    root : pathlib.Path
        The lake's root folder (``data_lake/`` by default in the platform).
    """

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def duckdb_path(self) -> Path:
        """Path of the DuckDB database that holds the SQL views."""
        return self.root / "lake.duckdb"

    def well_file(self, table: str, plate: str, well: str) -> Path:
        """Path of one well's file of a per-well table."""
        return (
            self.root / "wells" / table / f"plate={validate_barcode(plate)}"
            / f"well={normalize_well(well)}" / PART_FILE
        )

    def well_folder(self, table: str, plate: str, well: str) -> Path:
        """Folder of one well of a per-well table: its Parquet file and any arrays beside it."""
        return self.well_file(table, plate, well).parent

    def plate_folder(self, table: str, plate: str) -> Path:
        """Folder of one plate of a plate-level table (its Parquet file and any arrays beside it)."""
        return self.plate_file(table, plate).parent

    def plate_file(self, table: str, plate: str) -> Path:
        """Path of the compacted per-plate file of a table."""
        return self.root / table / f"plate={validate_barcode(plate)}" / PART_FILE

    def errors_file(self, table: str, plate: str) -> Path:
        """Path of the table of wells of ``plate`` that failed in the latest run of ``table``."""
        return self.root / "errors" / table / f"plate={validate_barcode(plate)}" / PART_FILE

    def write_plate(self, table: str, plate: str, frame: pl.DataFrame) -> Path:
        """Atomically write (or replace) one plate's file of a plate-level table."""
        return atomic_write_parquet(frame, self.plate_file(table, plate))

    def study_file(self, table: str) -> Path:
        """Path of a study-level table (one file over every plate, e.g. treatment profiles)."""
        return self.root / table / PART_FILE

    def write_study(self, table: str, frame: pl.DataFrame) -> Path:
        """Atomically write (or replace) a study-level table."""
        return atomic_write_parquet(frame, self.study_file(table))

    def has_table(self, table: str) -> bool:
        """Whether ``table`` has any data: a study-level file or at least one plate file."""
        if table == ALL_ERRORS:
            return bool(self.error_files())
        return self.study_file(table).is_file() or bool(self.plates_present(table))

    def table_glob(self, table: str) -> str:
        """Path or glob of a table's data for DuckDB ``read_parquet``: the study-level file when
        there is one, else every compacted plate file (for :data:`ALL_ERRORS`: every plate file
        of every ``errors/<table>``)."""
        if table == ALL_ERRORS:
            return str(self.root / ALL_ERRORS / "*" / "plate=*" / PART_FILE)
        if self.study_file(table).is_file():
            return str(self.study_file(table))
        return str(self.root / table / "plate=*" / PART_FILE)

    def wells_present(self, table: str, plate: str) -> list[str]:
        """Return the wells of ``plate`` that have a file for per-well ``table``, sorted."""
        folder = self.root / "wells" / table / f"plate={validate_barcode(plate)}"
        if not folder.is_dir():
            return []
        return sorted(
            entry.name.removeprefix("well=")
            for entry in folder.iterdir()
            if entry.name.startswith("well=") and (entry / PART_FILE).is_file()
        )

    def plates_present(self, table: str) -> list[str]:
        """Return the plates that have a compacted file for ``table``, sorted."""
        folder = self.root / table
        if not folder.is_dir():
            return []
        return sorted(
            entry.name.removeprefix("plate=")
            for entry in folder.iterdir()
            if entry.name.startswith("plate=") and (entry / PART_FILE).is_file()
        )

    def write_well(self, table: str, plate: str, well: str, frame: pl.DataFrame) -> Path:
        """Atomically write (or replace) one well's rows of a per-well table."""
        return atomic_write_parquet(frame, self.well_file(table, plate, well))

    def compact_plate(self, table: str, plate: str) -> tuple[Path, int]:
        """Concatenate every well file of ``plate`` into the plate's compacted file.

        Reads whatever wells are present, so re-running a few wells and compacting again gives
        the same file as a full run. Well files with differing columns are unioned by name.

        Returns
        -------
        tuple of (pathlib.Path, int)
            The compacted file and its number of rows.

        Raises
        ------
        FileNotFoundError
            If the plate has no well files for this table.
        """
        wells = self.wells_present(table, plate)
        if not wells:
            raise FileNotFoundError(f"no well files of table {table!r} for plate {plate!r} under {self.root}")
        # polars reads wide tables (1,000+ columns) about 6x faster than pyarrow's read_table here.
        frames = [pl.read_parquet(self.well_file(table, plate, well)) for well in wells]
        frame = pl.concat(frames, how="diagonal_relaxed")
        return atomic_write_parquet(frame, self.plate_file(table, plate)), frame.height

    def write_errors(self, table: str, plate: str, errors: Iterable[dict[str, str]]) -> pl.DataFrame:
        """Replace the record of failed wells of ``plate`` for ``table`` (empty when none failed).

        Each ``error`` is stored on one line (whitespace runs, newlines included, become one
        space): a row of this table is a line of the command line's report.
        """
        frame = pl.DataFrame(list(errors), schema=ERRORS_SCHEMA).with_columns(
            pl.col(ERROR_MESSAGE).str.replace_all(r"\s+", " ").str.strip_chars()
        )
        atomic_write_parquet(frame, self.errors_file(table, plate))
        return frame

    def error_files(self, plate: str | None = None) -> list[Path]:
        """The ``errors/<table>`` files of ``plate`` (of every plate when None), sorted by path."""
        pattern = f"plate={validate_barcode(plate)}" if plate is not None else "plate=*"
        return sorted((self.root / ALL_ERRORS).glob(f"*/{pattern}/{PART_FILE}"))

    def read_errors(self, plate: str | None = None) -> pl.DataFrame:
        """Every recorded failure of ``plate`` (of every plate when None), over all tables.

        Returns
        -------
        polars.DataFrame
            Columns :data:`ERRORS_SCHEMA`: ``table`` (the per-well table whose latest run failed
            there), ``Metadata_Plate``, ``Metadata_Well`` (null for a file that names no well),
            ``file`` (empty when unknown) and ``error`` (one line). Empty when nothing failed.
        """
        frames = [pl.read_parquet(path).cast(ERRORS_SCHEMA) for path in self.error_files(plate)]
        return pl.concat(frames) if frames else pl.DataFrame(schema=ERRORS_SCHEMA)

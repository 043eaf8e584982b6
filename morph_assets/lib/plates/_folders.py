"""Real plates on disk: a folder per plate in the CPJUMP1 / Cell Painting Gallery layout.

A plate folder looks like::

    <source_root>/<barcode>/
        Images/r01c01f01p01-ch1sk1fk1fl1.tiff ...     (Opera Phenix / Harmony naming)
        platemap.tsv (.txt, .csv)                      well_position, broad_sample[, solvent]
        compound_metadata.tsv (.txt, .csv)             broad_sample, pert_iname, target_list, ...
        load_data.csv                                  optional: a CellProfiler LoadData CSV
        ACQUISITION_COMPLETE                           optional marker: the plate is fully written

With a ``load_data.csv`` the image index comes from its ``FileName_Orig<Stain>`` /
``PathName_Orig<Stain>`` columns instead of from listing ``Images/``. The layout files may use
JUMP-Target's column names or ``Metadata_``-prefixed ones, tabs or commas
(:func:`morph_assets.lib.plates.read_layout`). Identifiers are read as text (a barcode or
``Metadata_Plate`` ``00123`` stays ``"00123"``); sites are integers.

Problems with the plate as a whole (bad barcode, no layout, no images) raise
:class:`PlateError`. Problems with single wells (a missing channel, a duplicate file, a well not
in the layout) are returned as :class:`WellProblem` so that one bad well does not sink a plate.
"""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from morph_assets.lib.plates._layout import LayoutError, read_layout, read_text_table
from morph_assets.lib.plates._naming import (
    CHANNEL_NAMES,
    NamingError,
    normalize_well,
    parse_image_name,
    validate_barcode,
)
from morph_assets.lib.schema import ERROR_FILE, ERROR_MESSAGE, ERROR_TABLE, PLATE, SITE, WELL

COMPLETION_MARKER = "ACQUISITION_COMPLETE"
IMAGES_FOLDER = "Images"
LOAD_DATA_FILE = "load_data.csv"
_LAYOUT_SUFFIXES = (".tsv", ".txt", ".csv")
PLATEMAP_FILES = tuple(f"platemap{suffix}" for suffix in _LAYOUT_SUFFIXES)
METADATA_FILES = tuple(f"{stem}{suffix}" for stem in ("compound_metadata", "metadata") for suffix in _LAYOUT_SUFFIXES)
# A site number as LoadData CSVs hold it: "1", "01", or "1.0" from a pandas round trip.
_SITE_TEXT = re.compile(r"\s*0*([0-9]+)(?:\.0*)?\s*")
# Sites are Int32 in every table (Metadata_Site of CellProfiler's and our measurements).
_LARGEST_SITE = 2**31 - 1
_TIFF_SUFFIXES = {".tif", ".tiff"}
_CHANNEL_BY_STAIN = {name.lower(): number for number, name in CHANNEL_NAMES.items()}

IMAGE_INDEX_SCHEMA = {
    PLATE: pl.String,
    WELL: pl.String,
    SITE: pl.Int32,
    "channel": pl.Int32,
    "channel_name": pl.String,
    "path": pl.String,
}


class PlateError(ValueError):
    """A plate folder that cannot be ingested at all; the message names the file and the fix."""


@dataclass(frozen=True, slots=True)
class WellProblem:
    """One reason a well (or a stray file) is left out of a plate's ingestion.

    Attributes
    ----------
    well : str or None
        The well, None for a file that names no well.
    file : str
        The file concerned.
    error : str
        What is wrong, in one line.
    """

    well: str | None
    file: str
    error: str

    def as_record(self, table: str, plate: str) -> dict[str, str | None]:
        """Return a row for the lake's ``errors`` table."""
        return {ERROR_TABLE: table, PLATE: plate, WELL: self.well, ERROR_FILE: self.file, ERROR_MESSAGE: self.error}


@dataclass(frozen=True)
class PlateIndex:
    """Everything known about a plate folder before any pixel is read.

    Attributes
    ----------
    barcode : str
        The validated plate barcode (the folder name).
    folder : pathlib.Path
        The plate folder.
    layout : polars.DataFrame
        One row per well: ``Metadata_Plate`` plus the layout columns of
        :func:`morph_assets.lib.plates.read_layout`.
    images : polars.DataFrame
        One row per (well, site, channel) with a usable file, columns :data:`IMAGE_INDEX_SCHEMA`.
        Wells with a problem are left out entirely.
    problems : tuple of WellProblem
        Why wells or files were left out.
    """

    barcode: str
    folder: Path
    layout: pl.DataFrame
    images: pl.DataFrame
    problems: tuple[WellProblem, ...] = field(default=())

    def wells(self) -> list[str]:
        """Wells with usable images, sorted."""
        return sorted(self.images[WELL].unique().to_list())

    def well_images(self, well: str) -> pl.DataFrame:
        """The image index rows of one well, sorted by site and channel."""
        return self.images.filter(pl.col(WELL) == well).sort(SITE, "channel")

    def problems_by_well(self) -> dict[str | None, list[WellProblem]]:
        """Problems grouped by well (``None`` for files that name no well)."""
        grouped: dict[str | None, list[WellProblem]] = defaultdict(list)
        for problem in self.problems:
            grouped[problem.well].append(problem)
        return dict(grouped)


def discover_plate_folders(source_root: Path | str) -> list[Path]:
    """Return the candidate plate folders directly under ``source_root``, sorted by name.

    Hidden folders and the generator's in-progress ``*.partial-*`` folders are skipped.

    Parameters
    ----------
    source_root : pathlib.Path or str
        Folder the microscope or the generator writes plates into.

    Returns
    -------
    list of pathlib.Path
        The plate folders.
    """
    root = Path(source_root)
    if not root.is_dir():
        return []
    return sorted(
        entry for entry in root.iterdir()
        if entry.is_dir() and not entry.name.startswith(".") and ".partial-" not in entry.name
    )


def latest_modification(folder: Path) -> float:
    """Return the newest modification time (epoch seconds) of ``folder`` and anything in it.

    Parameters
    ----------
    folder : pathlib.Path
        A plate folder.

    Returns
    -------
    float
        Seconds since the epoch.
    """
    newest = folder.stat().st_mtime
    for path in folder.rglob("*"):
        try:
            newest = max(newest, path.stat().st_mtime)
        except FileNotFoundError:  # a file renamed away while we looked
            continue
    return newest


def is_plate_complete(folder: Path | str, *, quiet_seconds: float, now: float | None = None) -> bool:
    """Tell whether a plate folder is fully written.

    Parameters
    ----------
    folder : path-like
        The plate folder.
    quiet_seconds : float
        Without a completion marker, the folder counts as complete once nothing in it has
        changed for this long (microscopes that write no marker).
    now : float, optional
        Current time in epoch seconds (for tests); defaults to ``time.time()``.

    Returns
    -------
    bool
        True if ``ACQUISITION_COMPLETE`` exists, or the folder has been quiet long enough.
    """
    folder = Path(folder)
    if (folder / COMPLETION_MARKER).exists():
        return True
    now = time.time() if now is None else now
    return now - latest_modification(folder) >= quiet_seconds


def _one_layout_file(folder: Path, names: tuple[str, ...], what: str, hint: str) -> Path:
    found = [folder / name for name in names if (folder / name).is_file()]
    if len(found) > 1:
        raise PlateError(f"{folder}: {len(found)} {what} files {[path.name for path in found]}; keep one of them")
    if not found:
        # Name the user's own file when it is there under another name (e.g. JUMP's "..._platemap.txt").
        candidates = sorted(path.name for path in folder.glob(f"*{hint}*") if path.suffix.lower() in _LAYOUT_SUFFIXES)
        seen = f"; found {candidates}, rename it" if candidates else ""
        raise PlateError(f"{folder}: no {what} file; expected one of {list(names)} in the plate folder{seen}")
    return found[0]


def read_plate_layout(folder: Path | str) -> pl.DataFrame:
    """Read a plate folder's platemap and perturbation metadata into one row per well.

    Parameters
    ----------
    folder : path-like
        The plate folder: one of :data:`PLATEMAP_FILES` and one of :data:`METADATA_FILES`,
        read by :func:`morph_assets.lib.plates.read_layout` (tab or comma separated,
        ``Metadata_`` prefixes optional, empty ``broad_sample`` is DMSO).

    Returns
    -------
    polars.DataFrame
        ``Metadata_Plate`` (the folder name, as text) and the layout columns, one row per well.

    Raises
    ------
    PlateError
        If either file is missing, present under two names, or unusable; one line naming the
        file, the column, the value and the fix.
    """
    folder = Path(folder)
    platemap = _one_layout_file(folder, PLATEMAP_FILES, "platemap", "platemap")
    metadata = _one_layout_file(folder, METADATA_FILES, "perturbation metadata", "metadata")
    try:
        layout = read_layout(platemap, metadata)
    except LayoutError as error:
        raise PlateError(str(error)) from error
    if layout.is_empty():
        raise PlateError(f"{platemap}: lists no wells; add one row per well (well_position, broad_sample)")
    return layout.select(pl.lit(folder.name, pl.String).alias(PLATE), pl.all())


def _files_from_images_folder(folder: Path) -> tuple[list[dict], list[WellProblem]]:
    images_folder = folder / IMAGES_FOLDER
    if not images_folder.is_dir():
        raise PlateError(f"{folder}: no {IMAGES_FOLDER}/ folder and no {LOAD_DATA_FILE}")
    rows: list[dict] = []
    problems: list[WellProblem] = []
    for path in sorted(images_folder.iterdir()):
        if path.suffix.lower() not in _TIFF_SUFFIXES:
            continue  # Harmony also writes Index.idx.xml and other side files
        try:
            name = parse_image_name(path.name)
        except NamingError as error:
            problems.append(WellProblem(None, str(path), str(error)))
            continue
        rows.append({WELL: name.well, SITE: name.site, "channel": name.channel, "plane": name.plane, "path": str(path)})
    return rows, problems


def _parse_site(text: str | None) -> int:
    if not (text or "").strip():
        raise ValueError("the cell is empty; write 1, 2, ...")
    match = _SITE_TEXT.fullmatch(text)
    if match is None or not 1 <= int(match[1]) <= _LARGEST_SITE:
        raise ValueError(f"{text!r} is not a site number; write 1, 2, ... (up to {_LARGEST_SITE})")
    return int(match[1])


def _check_load_data_plates(folder: Path, csv_path: Path, records: list[tuple[int, dict[str, str]]]) -> None:
    """Every row's Metadata_Plate must be the folder's barcode, compared as text."""
    for line, record in records:
        plate = record[PLATE].strip()
        if plate != folder.name:
            other = sorted({r[PLATE].strip() for _, r in records} - {folder.name, ""})
            written = f"is empty at line {line}" if not plate else f"holds {other} (first at line {line})"
            raise PlateError(
                f"{csv_path}: column Metadata_Plate {written}, which does not match the plate folder name "
                f"{folder.name!r}; write {folder.name!r} on every row, or rename the folder"
            )


def _files_from_load_data(folder: Path, csv_path: Path) -> tuple[list[dict], list[WellProblem]]:
    try:
        # All text: Metadata_Plate "00123" and file names stay as written; lines as in the file.
        columns, fields = read_text_table(csv_path)
    except LayoutError as error:
        raise PlateError(str(error)) from error
    records = [(line, dict(zip(columns, values, strict=True))) for line, values in fields]
    if not records:
        raise PlateError(f"{csv_path}: lists no images (a header only); add one row per site, or remove the file")
    stains = [column.removeprefix("FileName_Orig") for column in columns if column.startswith("FileName_Orig")]
    required = {WELL, SITE}
    if not stains or not required <= set(columns):
        raise PlateError(
            f"{csv_path}: a CellProfiler LoadData CSV needs Metadata_Well, Metadata_Site and "
            f"FileName_Orig<Stain> columns; found {columns[:12]}; add or rename them"
        )
    unknown = [stain for stain in stains if stain.lower() not in _CHANNEL_BY_STAIN]
    if unknown:
        raise PlateError(
            f"{csv_path}: unknown stain(s) {unknown} in FileName_Orig<Stain>; known: {list(CHANNEL_NAMES.values())}; "
            "rename the columns"
        )
    if PLATE in columns:
        _check_load_data_plates(folder, csv_path, records)
    rows: list[dict] = []
    problems: list[WellProblem] = []
    for line, record in records:
        try:
            well = normalize_well(record[WELL] or "")
        except NamingError as error:
            problems.append(WellProblem(None, str(csv_path), f"line {line}: column Metadata_Well: {error}"))
            continue
        try:
            site = _parse_site(record[SITE])
        except ValueError as error:
            problems.append(WellProblem(well, str(csv_path), f"line {line}: column Metadata_Site: {error}"))
            continue
        for stain in stains:
            filename = record[f"FileName_Orig{stain}"]
            if not filename:
                # Leaving the image out makes the site incomplete, so the well is skipped as a whole.
                problems.append(WellProblem(well, str(csv_path), f"line {line}: column FileName_Orig{stain} is empty"))
                continue
            directory = record.get(f"PathName_Orig{stain}") or str(folder / IMAGES_FOLDER)
            directory_path = Path(directory) if Path(directory).is_absolute() else folder / directory
            rows.append({
                WELL: well, SITE: site, "channel": _CHANNEL_BY_STAIN[stain.lower()],
                "plane": 1, "path": str(directory_path / filename),
            })
    return rows, problems


def _validate_wells(rows: list[dict], layout_wells: set[str]) -> tuple[list[dict], list[WellProblem]]:
    # CPJUMP1 images one plane per site; further z-planes are not part of a Cell Painting profile.
    rows = [row for row in rows if row["plane"] == 1]
    problems: list[WellProblem] = []
    by_key: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        by_key[(row[WELL], row[SITE], row["channel"], row["plane"])].append(row)
    bad_wells: dict[str, list[WellProblem]] = defaultdict(list)
    for (well, site, channel, _), found in by_key.items():
        if len(found) > 1:
            paths = sorted(row["path"] for row in found)
            bad_wells[well].append(WellProblem(well, paths[0], f"site {site} channel {channel} has {len(found)} files: {paths}"))
    for well in sorted({row[WELL] for row in rows} - layout_wells):
        example = next(row["path"] for row in rows if row[WELL] == well)
        bad_wells[well].append(WellProblem(well, example, f"well {well} is not in the platemap"))

    # The plate's channel set is every channel seen anywhere on it: a site lacking one is incomplete.
    plate_channels = sorted({row["channel"] for row in rows})
    channels_by_site: dict[tuple[str, int], set[int]] = defaultdict(set)
    example_by_site: dict[tuple[str, int], str] = {}
    for row in rows:
        channels_by_site[(row[WELL], row[SITE])].add(row["channel"])
        example_by_site[(row[WELL], row[SITE])] = row["path"]
    for (well, site), channels in sorted(channels_by_site.items()):
        missing = [channel for channel in plate_channels if channel not in channels]
        if missing:
            names = ", ".join(f"ch{channel} ({CHANNEL_NAMES.get(channel, '?')})" for channel in missing)
            bad_wells[well].append(WellProblem(well, example_by_site[(well, site)], f"site {site} is missing channel(s) {names}"))
    for well_problems in bad_wells.values():
        problems.extend(well_problems)
    usable = [row for row in rows if row[WELL] not in bad_wells]
    return usable, problems


def read_plate(folder: Path | str) -> PlateIndex:
    """Index a plate folder: validate it, read its layout and list its images.

    Parameters
    ----------
    folder : path-like
        A plate folder as described in this module's docstring. Its name is the barcode.

    Returns
    -------
    PlateIndex
        The layout, the usable images and the problems found.

    Raises
    ------
    PlateError
        If the barcode is invalid, the layout is missing or broken, or no usable image exists.
    """
    folder = Path(folder)
    if not folder.is_dir():
        # Also what a queued run meets when the plate's folder was moved or deleted after the
        # plate was registered: say how to get going again, not just what is missing.
        what = "is not a folder" if folder.exists() else "does not exist (moved or deleted?)"
        raise PlateError(f"{folder}: the plate folder {what}; put it (its platemap and Images/) back at "
                         f"this path under the source root, then re-run the plate")
    try:
        barcode = validate_barcode(folder.name)
    except NamingError as error:
        raise PlateError(f"{folder}: {error}") from error
    info_path = folder / "plate.json"
    if info_path.is_file():
        try:
            declared = json.loads(info_path.read_text()).get("barcode", barcode)
        except json.JSONDecodeError as error:
            raise PlateError(f"{info_path}: not valid JSON ({error})") from error
        if declared != barcode:
            raise PlateError(f"{info_path}: barcode {declared!r} does not match the folder name {barcode!r}")

    layout = read_plate_layout(folder)
    load_data = folder / LOAD_DATA_FILE
    rows, problems = (
        _files_from_load_data(folder, load_data) if load_data.is_file() else _files_from_images_folder(folder)
    )
    usable, well_problems = _validate_wells(rows, set(layout[WELL].to_list()))
    problems.extend(well_problems)
    # A well with an unusable LoadData row would otherwise go on with a site too few.
    listed_badly = {problem.well for problem in problems if problem.well is not None}
    usable = [row for row in usable if row[WELL] not in listed_badly]
    if not usable:
        detail = f"; first problem: {problems[0].error}" if problems else ""
        raise PlateError(
            f"{folder}: no usable images found ({len(rows)} image files indexed, {len(problems)} problem(s)){detail}"
        )
    images = pl.DataFrame(
        [
            {
                PLATE: barcode, WELL: row[WELL], SITE: row[SITE],
                "channel": row["channel"], "channel_name": CHANNEL_NAMES.get(row["channel"], f"ch{row['channel']}"),
                "path": row["path"],
            }
            for row in usable
        ],
        schema=IMAGE_INDEX_SCHEMA,
    ).sort(WELL, SITE, "channel")
    return PlateIndex(barcode=barcode, folder=folder, layout=layout, images=images, problems=tuple(problems))

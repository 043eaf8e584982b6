"""Well names, plate barcodes and the CPJUMP1 (Opera Phenix / Harmony) image file naming.

CPJUMP1 images are named ``r{row:02d}c{col:02d}f{site:02d}p{plane:02d}-ch{channel}sk1fk1fl1.tiff``,
e.g. ``r01c01f01p01-ch1sk1fk1fl1.tiff`` is well A01, site 1, plane 1, channel 1 (Mito).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROW_LETTERS = "ABCDEFGHIJKLMNOP"
N_ROWS = 16
N_COLUMNS = 24

#: All 384 wells of a 384-well plate in row-major order: A01, A02, ..., P24.
WELLS_384: tuple[str, ...] = tuple(
    f"{row}{col:02d}" for row in ROW_LETTERS for col in range(1, N_COLUMNS + 1)
)

#: CPJUMP1 channel numbers and the stain each one images (Chandrasekaran et al. 2024).
CHANNEL_NAMES: dict[int, str] = {
    1: "Mito",
    2: "AGP",
    3: "RNA",
    4: "ER",
    5: "DNA",
    6: "HighZBF",
    7: "LowZBF",
    8: "Brightfield",
}
#: The five fluorescence channels of Cell Painting, the ones features are measured on.
FLUORESCENCE_CHANNELS: tuple[int, ...] = (1, 2, 3, 4, 5)

#: Substrings a plate barcode may not hold, because barcodes become Dagster partition keys:
#: Dagster 1.13's ``INVALID_PARTITION_SUBSTRINGS`` (``"..."`` separates the two ends of a partition
#: range in the UI and in backfills; the control characters do not display) and its
#: ``INVALID_STATIC_PARTITIONS_KEY_CHARACTERS`` (``"|"`` joins the plate and well of a plate x well
#: key, ``","``, ``"["`` and ``"]"`` break the multi-partition key lists). Written out here because
#: ``lib`` does not import Dagster; a test checks it against Dagster's own constants.
RESERVED_BARCODE_SUBSTRINGS: tuple[str, ...] = (
    "...", "\a", "\b", "\f", "\n", "\r", "\t", "\v", "\0", "|", ",", "[", "]",
)
# Barcodes are also folder names and Hive partition values (plate=<barcode>): a portable subset.
_BARCODE_PATTERN = re.compile(r"[A-Za-z0-9_.-]+")
_BARCODE_RULE = (
    "a barcode becomes a Dagster partition key and a folder name: use only letters, digits, '_', '.' and '-'"
)
_WELL_PATTERN = re.compile(r"([A-Pa-p])([0-9]{1,2})")
_IMAGE_PATTERN = re.compile(
    r"r(?P<row>[0-9]{2})c(?P<col>[0-9]{2})f(?P<site>[0-9]{2})p(?P<plane>[0-9]{2})"
    r"-ch(?P<channel>[0-9]+)sk[0-9]+fk[0-9]+fl[0-9]+\.tiff?",
    re.IGNORECASE,
)


class NamingError(ValueError):
    """A well name, plate barcode or image file name that does not follow the conventions."""


def _suggest_barcode(barcode: str) -> str:
    # One "_" for every run of characters the rule refuses, and for every run of 3 or more dots.
    # and no leading "-" (an option to every command line) nor "." / "_" at either end.
    suggestion = re.sub(r"[^A-Za-z0-9_.-]+|\.{3,}", "_", barcode).lstrip("._-").rstrip("._")
    return suggestion or "PLATE1"


def validate_barcode(barcode: str) -> str:
    """Return ``barcode`` unchanged if it is a safe plate barcode, else raise.

    A barcode is safe when it holds none of :data:`RESERVED_BARCODE_SUBSTRINGS` (what Dagster
    reserves in partition keys), only the characters ``[A-Za-z0-9_.-]`` (it is also a folder
    name on every operating system), neither starts nor ends with ``"."`` (a hidden folder,
    and a dot next to Dagster's ``"..."`` range separator makes ranges ambiguous), and does not
    start with ``"-"`` (every command line, ``morph-assets ingest`` and ``dagster`` included,
    reads it as an option). Barcodes are text: ``"00123"`` stays ``"00123"``.

    Parameters
    ----------
    barcode : str
        Plate barcode, e.g. ``"BR00116991"``.

    Returns
    -------
    str
        The same barcode.

    Raises
    ------
    NamingError
        One line naming the barcode, the offending substring or character, and a renamed
        barcode that would be accepted.

    Examples
    --------
    >>> validate_barcode("BR00116991")
    'BR00116991'
    >>> try:
    ...     validate_barcode("BR...01")
    ... except NamingError as error:
    ...     print(str(error).split(";")[0])
    plate barcode 'BR...01' is not allowed: it contains '...', which Dagster reserves in partition keys
    """
    if not isinstance(barcode, str) or not barcode:
        raise NamingError(f"plate barcode {barcode!r} is not allowed: it must be non-empty text; {_BARCODE_RULE}")
    fix = f"rename the plate folder, e.g. to {_suggest_barcode(barcode)!r}; {_BARCODE_RULE}"
    reserved = [substring for substring in RESERVED_BARCODE_SUBSTRINGS if substring in barcode]
    if reserved:
        raise NamingError(
            f"plate barcode {barcode!r} is not allowed: it contains {reserved[0]!r}, "
            f"which Dagster reserves in partition keys; {fix}"
        )
    if not _BARCODE_PATTERN.fullmatch(barcode):
        bad = sorted({character for character in barcode if not _BARCODE_PATTERN.fullmatch(character)})
        raise NamingError(f"plate barcode {barcode!r} is not allowed: it contains {''.join(bad)!r}; {fix}")
    if barcode.startswith("-"):
        raise NamingError(
            f"plate barcode {barcode!r} is not allowed: it starts with '-', which every command line reads as "
            f"an option ('morph-assets ingest {barcode}' would fail); {fix}"
        )
    if barcode.startswith(".") or barcode.endswith("."):
        raise NamingError(
            f"plate barcode {barcode!r} is not allowed: it starts or ends with '.', which hides the "
            f"folder and runs into Dagster's '...' range separator; {fix}"
        )
    return barcode


def normalize_well(well: str) -> str:
    """Return the canonical zero-padded name of a 384-well plate well.

    Parameters
    ----------
    well : str
        Well name such as ``"A1"``, ``"a01"`` or ``"P24"``.

    Returns
    -------
    str
        Upper-case, zero-padded name, e.g. ``"A01"``.

    Raises
    ------
    NamingError
        If the name is not a well of a 384-well plate.

    Examples
    --------
    >>> normalize_well("b7")
    'B07'
    """
    match = _WELL_PATTERN.fullmatch(str(well).strip())
    if match is None or not 1 <= int(match.group(2)) <= N_COLUMNS:
        raise NamingError(f"{well!r} is not a well of a 384-well plate (A01..P24)")
    return f"{match.group(1).upper()}{int(match.group(2)):02d}"


def well_to_row_col(well: str) -> tuple[int, int]:
    """Return the 1-based (row, column) of a well: ``"B03"`` -> ``(2, 3)``.

    Parameters
    ----------
    well : str
        A well name in any accepted spelling (``"B3"``, ``"b03"``).

    Returns
    -------
    row, col : int
        1-based row and column.
    """
    name = normalize_well(well)
    return ROW_LETTERS.index(name[0]) + 1, int(name[1:])


def row_col_to_well(row: int, col: int) -> str:
    """Return the well name of a 1-based (row, column): ``(2, 3)`` -> ``"B03"``.

    Parameters
    ----------
    row, col : int
        1-based row (1-16) and column (1-24).

    Returns
    -------
    str
        The well name.
    """
    if not (1 <= row <= N_ROWS and 1 <= col <= N_COLUMNS):
        raise NamingError(f"row {row}, column {col} is outside a 384-well plate (16 x 24)")
    return f"{ROW_LETTERS[row - 1]}{col:02d}"


@dataclass(frozen=True, slots=True)
class ImageName:
    """The parts of one CPJUMP1 image file name.

    Attributes
    ----------
    well : str
        Well name, e.g. ``"A01"``.
    site : int
        Field of view, from 1.
    channel : int
        Channel number, from 1.
    plane : int
        Focal plane, 1 by default.
    """

    well: str
    site: int
    channel: int
    plane: int = 1

    def filename(self) -> str:
        """Return the file name, e.g. ``r01c01f01p01-ch1sk1fk1fl1.tiff``."""
        return format_image_name(self.well, self.site, self.channel, self.plane)

    def site_prefix(self) -> str:
        """Return the per-site prefix shared by all channels, e.g. ``r01c01f01p01``."""
        return _format_site_prefix(self.well, self.site, self.plane)


def _format_site_prefix(well: str, site: int, plane: int) -> str:
    # The one place the prefix is spelled; file names append "-ch<n>...", so site_prefix() inverts it.
    row, col = well_to_row_col(well)
    return f"r{row:02d}c{col:02d}f{site:02d}p{plane:02d}"


def site_prefix(path: str | Path) -> str:
    """Return the per-site prefix of an image file name, shared by all channels of the site.

    For a CPJUMP1 name it is the part before the channel, ``r01c01f01p01`` (as
    :meth:`ImageName.site_prefix` builds it); any other name is kept up to its first ``-`` (the
    whole name when it has none), so that the sites of a ``load_data.csv`` plate with other
    names still get one prefix each.

    Parameters
    ----------
    path : str or pathlib.Path
        An image file name or path, e.g. ``plate/r01c01f01p01-ch1sk1fk1fl1.tiff``.

    Returns
    -------
    str
        Everything before the first ``-`` of the file name.

    Examples
    --------
    >>> site_prefix("plate/r01c02f03p01-ch5sk1fk1fl1.tiff")
    'r01c02f03p01'
    """
    return Path(path).name.split("-", 1)[0]


def format_image_name(well: str, site: int, channel: int, plane: int = 1) -> str:
    """Return the CPJUMP1 file name of one image.

    Parameters
    ----------
    well : str
        Well name, e.g. ``"A01"``.
    site : int
        1-based field of view within the well.
    channel : int
        1-based channel number (1 Mito, 2 AGP, 3 RNA, 4 ER, 5 DNA, 6-8 brightfield).
    plane : int, optional
        1-based z-plane, by default 1.

    Returns
    -------
    str
        The file name.

    Examples
    --------
    >>> format_image_name("A01", 1, 1)
    'r01c01f01p01-ch1sk1fk1fl1.tiff'
    """
    for label, value in (("site", site), ("channel", channel), ("plane", plane)):
        if not 1 <= int(value) <= 99:
            raise NamingError(f"{label} {value} must be between 1 and 99")
    return f"{_format_site_prefix(well, site, plane)}-ch{channel}sk1fk1fl1.tiff"


def parse_image_name(filename: str) -> ImageName:
    """Parse a CPJUMP1 image file name.

    Parameters
    ----------
    filename : str
        A file name (not a path), e.g. ``"r01c01f01p01-ch1sk1fk1fl1.tiff"``.

    Returns
    -------
    ImageName
        Well, site, channel and plane.

    Raises
    ------
    NamingError
        If the name does not follow the pattern or names a well outside the plate.

    Examples
    --------
    >>> parse_image_name("r02c03f04p01-ch5sk1fk1fl1.tiff")
    ImageName(well='B03', site=4, channel=5, plane=1)
    """
    match = _IMAGE_PATTERN.fullmatch(filename)
    if match is None:
        raise NamingError(
            f"{filename!r} does not follow the CPJUMP1 naming r<row>c<col>f<site>p<plane>-ch<n>sk1fk1fl1.tiff"
        )
    well = row_col_to_well(int(match["row"]), int(match["col"]))
    site, channel, plane = int(match["site"]), int(match["channel"]), int(match["plane"])
    if site < 1 or channel < 1 or plane < 1:
        raise NamingError(f"{filename!r}: site, channel and plane numbers start at 1")
    return ImageName(well=well, site=site, channel=channel, plane=plane)

"""What every per-well task carries: the well, its plate, its images and the lake to write."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from morph_assets.lib.io import Lake


@dataclass(frozen=True, kw_only=True)
class WellTask:
    """One well's job, built in the parent process and sent to a worker whole.

    Fields are plain values (text, lists, dicts) so that a task pickles cheaply across the
    process boundary; each stage's task adds what its job needs.

    Attributes
    ----------
    well : str
        Well name, e.g. ``"A01"``.
    lake_root : str
        Root folder of the lake the task writes.
    plate : str
        Plate barcode.
    image_rows : list of dict
        The well's rows of the plate's image index, one per site and channel.
    """

    well: str
    lake_root: str
    plate: str
    image_rows: list[dict]

    def lake(self) -> Lake:
        """Return the lake the task writes.

        Returns
        -------
        Lake
            The lake at :attr:`lake_root`.
        """
        return Lake(Path(self.lake_root))


@dataclass(frozen=True, kw_only=True)
class CorrectedWellTask(WellTask):
    """A well job that reads its images corrected by the plate's illumination functions.

    Attributes
    ----------
    illumination_files : dict of str to str
        Channel name -> float TIFF of the plate's illumination function (may be empty: no
        correction).
    """

    illumination_files: dict[str, str]

"""Segmenting one well: every site's nuclei, cells and cytoplasm, written to the lake.

Label images are stored as zlib-compressed TIFFs beside the well's index file
(``wells/masks/plate=<P>/well=<W>/<site prefix>-{nuclei,cells,cytoplasm}.tiff``); the index has
one row per site with object counts and, where the plate carries ground-truth masks (the
embedded synthetic plates do), the segmentation quality against them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import tifffile
from skimage.segmentation import clear_border

from morph_assets.lib.features import load_illumination, load_site
from morph_assets.lib.plates import site_prefix
from morph_assets.lib.io import Lake, atomic_write_tiff
from morph_assets.lib.schema import COUNT_CELLS, MASKS, PLATE, SITE, SITE_PREFIX, WELL
from morph_assets.lib.segment import SegmentationSettings, SiteSegmentation, score_segmentation, segment_site
from morph_assets.lib.tasks._task import CorrectedWellTask

OBJECT_TYPES: tuple[str, ...] = ("nuclei", "cells", "cytoplasm")
GROUND_TRUTH_FOLDER = "GroundTruth"

MASKS_SCHEMA = {
    PLATE: pl.String,
    WELL: pl.String,
    SITE: pl.Int32,
    SITE_PREFIX: pl.String,
    "method": pl.String,
    "Count_Nuclei": pl.Int32,
    COUNT_CELLS: pl.Int32,
    "nuclei_path": pl.String,
    "cells_path": pl.String,
    "cytoplasm_path": pl.String,
    "truth_Count_Cells": pl.Int32,
    "nuclei_ap50": pl.Float64,
    "nuclei_f1": pl.Float64,
    "cells_ap50": pl.Float64,
    "cells_f1": pl.Float64,
    "cells_count_error": pl.Float64,
}


def rows_by_site(image_rows: Sequence[Mapping[str, object]]) -> dict[int, list[Mapping[str, object]]]:
    """Group a well's image index rows by site number.

    Parameters
    ----------
    image_rows : sequence of mapping
        Rows of the image index, each with ``Metadata_Site``.

    Returns
    -------
    dict of int to list of mapping
        Site -> its rows (one per channel), in input order.
    """
    grouped: dict[int, list[Mapping[str, object]]] = defaultdict(list)
    for row in image_rows:
        grouped[int(row[SITE])].append(row)
    return dict(sorted(grouped.items()))


def mask_path(lake: Lake, plate: str, well: str, prefix: str, object_type: str) -> Path:
    """Return where one site's label image of one object type lives.

    Parameters
    ----------
    lake : Lake
        The lake.
    plate, well : str
        Plate barcode and well name.
    prefix : str
        The site's file prefix (``r01c01f01p01``).
    object_type : str
        ``"nuclei"``, ``"cells"`` or ``"cytoplasm"``.

    Returns
    -------
    pathlib.Path
        The TIFF's path.
    """
    return lake.well_folder(MASKS, plate, well) / f"{prefix}-{object_type}.tiff"


def read_site_segmentation(lake: Lake, plate: str, well: str, prefix: str) -> SiteSegmentation:
    """Read back one site's nuclei, cells and cytoplasm label images from the lake.

    Parameters
    ----------
    lake : Lake
        The lake.
    plate, well : str
        Plate barcode and well name.
    prefix : str
        The site's file prefix (``r01c01f01p01``).

    Returns
    -------
    SiteSegmentation
        The three label images.
    """
    arrays = {kind: tifffile.imread(mask_path(lake, plate, well, prefix, kind)).astype(np.int32) for kind in OBJECT_TYPES}
    return SiteSegmentation(nuclei=arrays["nuclei"], cells=arrays["cells"], cytoplasm=arrays["cytoplasm"])


def _truth_scores(
    truth_dir: Path | None, prefix: str, segmentation: SiteSegmentation, discard_border: bool
) -> dict[str, float | int | None]:
    empty = {"truth_Count_Cells": None, "nuclei_ap50": None, "nuclei_f1": None, "cells_ap50": None, "cells_f1": None, "cells_count_error": None}
    if truth_dir is None or not (truth_dir / f"{prefix}-cells.tiff").exists():
        return empty
    true_nuclei = tifffile.imread(truth_dir / f"{prefix}-nuclei.tiff")
    true_cells = tifffile.imread(truth_dir / f"{prefix}-cells.tiff")
    if discard_border:
        # The segmenter drops cells whose nucleus touches the border; judge it on the same objects.
        kept = np.unique(clear_border(true_nuclei))
        true_nuclei = np.where(np.isin(true_nuclei, kept), true_nuclei, 0)
        true_cells = np.where(np.isin(true_cells, kept), true_cells, 0)
    nuclei = score_segmentation(true_nuclei, segmentation.nuclei)
    cells = score_segmentation(true_cells, segmentation.cells)
    return {
        "truth_Count_Cells": int(cells["n_true"]),
        "nuclei_ap50": nuclei["average_precision"], "nuclei_f1": nuclei["f1"],
        "cells_ap50": cells["average_precision"], "cells_f1": cells["f1"],
        "cells_count_error": cells["count_error"],
    }


@dataclass(frozen=True, kw_only=True)
class SegmentTask(CorrectedWellTask):
    """Segment one well's sites and write its masks (:func:`segment_well`).

    Attributes
    ----------
    method : str
        ``"classical"``, ``"cellpose"`` or ``"imported"``.
    settings : SegmentationSettings
        Segmentation settings.
    truth_dir : str or None
        Folder with ground-truth ``<prefix>-nuclei.tiff`` / ``<prefix>-cells.tiff``, if any.
    imported_masks : dict or None
        For ``"imported"``: site prefix -> (cell mask file, nuclei mask file or None).
    """

    method: str
    settings: SegmentationSettings
    truth_dir: str | None = None
    imported_masks: dict[str, tuple[str, str | None]] | None = None


def _segmented_channels(task: SegmentTask) -> set[str] | None:
    """The channels the task's method reads, or None for all of them.

    The classical and Cellpose methods read the nucleus and cell channels only; reading and
    correcting the other channels (six of a CPJUMP1 site's eight) was a tenth of a full-size
    site's segmentation. Where a well lacks one of the two, every channel is read, so the
    method's error lists what the site has.
    """
    if task.method not in ("classical", "cellpose"):
        return None
    needed = {task.settings.nucleus_channel, task.settings.cell_channel}
    present = {str(row["channel_name"]) for row in task.image_rows}
    return needed if needed <= present else None


def segment_well(task: SegmentTask) -> int:
    """Segment every site of one well and write its label images and index into the lake.

    Every site is segmented in memory first and written only when all succeeded, so a failure
    leaves the well's previous masks untouched.

    Parameters
    ----------
    task : SegmentTask
        The well, its images and illumination functions, the method and its settings.

    Returns
    -------
    int
        Number of sites written.
    """
    well, plate, method, settings, imported_masks = task.well, task.plate, task.method, task.settings, task.imported_masks
    if method == "cellpose":
        import torch

        torch.set_num_threads(1)  # one worker process per core already; more threads only contend
    lake = task.lake()
    needed = _segmented_channels(task)
    illumination = load_illumination({name: path for name, path in task.illumination_files.items()
                                      if needed is None or name in needed})
    truth = Path(task.truth_dir) if task.truth_dir else None
    results: list[tuple[str, int, SiteSegmentation]] = []
    for site, rows in rows_by_site(task.image_rows).items():
        prefix = site_prefix(str(rows[0]["path"]))
        images = load_site([row for row in rows if needed is None or row["channel_name"] in needed], illumination)
        extra = {}
        if method == "imported":
            if not imported_masks or prefix not in imported_masks:
                raise FileNotFoundError(f"no imported mask for site {prefix} of well {well} (plate {plate})")
            cell_file, nuclei_file = imported_masks[prefix]
            extra = {"cell_masks": cell_file, "nuclei_masks": nuclei_file}
        results.append((prefix, site, segment_site(images, method, settings, **extra)))

    records = []
    for prefix, site, segmentation in results:
        paths = {}
        for kind in OBJECT_TYPES:
            labels = getattr(segmentation, kind)
            dtype = np.uint16 if labels.max(initial=0) < 65536 else np.uint32
            paths[kind] = str(atomic_write_tiff(labels.astype(dtype), mask_path(lake, plate, well, prefix, kind)))
        records.append({
            PLATE: plate, WELL: well, SITE: site, SITE_PREFIX: prefix,
            "method": method, "Count_Nuclei": int(np.unique(segmentation.nuclei[segmentation.nuclei > 0]).size),
            COUNT_CELLS: segmentation.n_objects,
            "nuclei_path": paths["nuclei"], "cells_path": paths["cells"], "cytoplasm_path": paths["cytoplasm"],
            **_truth_scores(truth, prefix, segmentation, settings.discard_border_objects),
        })
    lake.write_well(MASKS, plate, well, pl.DataFrame(records, schema=MASKS_SCHEMA))
    return len(records)

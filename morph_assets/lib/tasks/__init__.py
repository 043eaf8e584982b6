"""Per-well tasks: the only lib code that writes the lake, and the pool that runs them.

Each stage's job on one well of one plate (ingest its images, segment it, measure it, make its
tensors, cut its single-cell crops) is a task dataclass (:class:`IngestTask`, :class:`SegmentTask`,
...) built in the parent process, and a function that takes it and writes the result into the lake;
:func:`map_wells` runs such a function over a plate's tasks in a :class:`WorkerPool` its caller
owns, one failure at a time.
"""

from morph_assets.lib.tasks._crops import (
    CROP_FILE,
    CROP_PLANES,
    CROPS_INDEX_SCHEMA,
    DEFAULT_VIEW_SIZE,
    CropTask,
    resize_crops,
    crop_well,
    load_crops,
)
from morph_assets.lib.tasks._features import (
    segmented_sites,
    RegionpropsTask,
    measure_well_regionprops,
    CellProfilerTask,
    measure_well_cellprofiler,
    cellprofiler_well,
)
from morph_assets.lib.tasks._masks import (
    OBJECT_TYPES,
    GROUND_TRUTH_FOLDER,
    MASKS_SCHEMA,
    rows_by_site,
    mask_path,
    read_site_segmentation,
    SegmentTask,
    segment_well,
)
from morph_assets.lib.tasks._pool import (
    WellOutcome,
    WorkerPool,
    default_workers,
    one_line,
    map_wells,
)
from morph_assets.lib.tasks._raw_images import (
    RAW_IMAGES_SCHEMA,
    measure_images,
    IngestTask,
    ingest_well,
)
from morph_assets.lib.tasks._skipped import (
    SKIPPED_PREFIX,
    skip_row,
    write_skipped,
    read_skipped,
)
from morph_assets.lib.tasks._task import (
    WellTask,
    CorrectedWellTask,
)
from morph_assets.lib.tasks._tensors import (
    TENSOR_FILE,
    DEFAULT_SIZE,
    TensorTask,
    tensor_well,
    load_tensors,
)

__all__ = [
    "CROPS_INDEX_SCHEMA",
    "CROP_FILE",
    "CROP_PLANES",
    "DEFAULT_VIEW_SIZE",
    "CropTask",
    "crop_well",
    "load_crops",
    "resize_crops",
    "DEFAULT_SIZE",
    "GROUND_TRUTH_FOLDER",
    "MASKS_SCHEMA",
    "OBJECT_TYPES",
    "RAW_IMAGES_SCHEMA",
    "SKIPPED_PREFIX",
    "TENSOR_FILE",
    "CellProfilerTask",
    "CorrectedWellTask",
    "IngestTask",
    "RegionpropsTask",
    "SegmentTask",
    "TensorTask",
    "WellOutcome",
    "WellTask",
    "WorkerPool",
    "cellprofiler_well",
    "default_workers",
    "ingest_well",
    "load_tensors",
    "map_wells",
    "mask_path",
    "measure_images",
    "measure_well_cellprofiler",
    "measure_well_regionprops",
    "one_line",
    "read_site_segmentation",
    "read_skipped",
    "rows_by_site",
    "segment_well",
    "segmented_sites",
    "skip_row",
    "tensor_well",
    "write_skipped",
]

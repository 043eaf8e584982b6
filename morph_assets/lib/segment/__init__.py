"""Segmentation: nuclei, cells and cytoplasm of every site, by any of three methods.

The base module holds the types every method returns and the consistency rule (cell ``k``
contains nucleus ``k``); the classical recipe, Cellpose and imported masks each produce one, the
last two finding nuclei in the DNA image by one shared rule when given cells only;
illumination correction prepares the images and the quality scores compare with ground truth.
"""

from morph_assets.lib.segment._base import (
    SEGMENTATION_METHODS,
    THRESHOLD_METHODS,
    SegmentationSettings,
    SiteSegmentation,
    make_consistent,
)
from morph_assets.lib.segment._cellpose import (
    NUCLEI_MODEL_FILE,
    CELL_MODEL_FILE,
    MANIFEST_FILE,
    CellposeWeightsMissing,
    CellposeUnavailable,
    cellpose_version,
    cellpose_major_version,
    local_models_dir,
    clear_model_cache,
    segment_with_cellpose,
)
from morph_assets.lib.segment._cellpose_training import (
    CellposeTrainingReport,
    train_cellpose_models,
)
from morph_assets.lib.segment._classical import (
    PrimaryObjects,
    global_threshold,
    identify_primary_objects,
    identify_secondary_objects,
    segment_classical,
)
from morph_assets.lib.segment._dispatch import (
    segment_site,
)
from morph_assets.lib.segment._illumination import (
    SMOOTHING_METHODS,
    NORMALISATIONS,
    smooth_illumination,
    estimate_illumination_function,
    apply_illumination_function,
    compare_to_truth,
    illumination_files,
)
from morph_assets.lib.segment._imported import (
    MASK_EXTENSIONS,
    NUCLEI_MASK_PATTERN,
    MaskError,
    MaskMatch,
    MatchReport,
    image_stem,
    match_masks,
    as_label_image,
    read_mask,
    segment_imported,
    load_imported_masks,
)
from morph_assets.lib.segment._nuclei import (
    nuclei_from_dna,
)
from morph_assets.lib.segment._quality import (
    intersection_over_union,
    score_segmentation,
)

__all__ = [
    "CELL_MODEL_FILE",
    "CellposeTrainingReport",
    "CellposeUnavailable",
    "CellposeWeightsMissing",
    "MANIFEST_FILE",
    "MASK_EXTENSIONS",
    "MaskError",
    "MaskMatch",
    "MatchReport",
    "NORMALISATIONS",
    "NUCLEI_MASK_PATTERN",
    "NUCLEI_MODEL_FILE",
    "PrimaryObjects",
    "SEGMENTATION_METHODS",
    "SMOOTHING_METHODS",
    "SegmentationSettings",
    "SiteSegmentation",
    "THRESHOLD_METHODS",
    "apply_illumination_function",
    "as_label_image",
    "cellpose_major_version",
    "cellpose_version",
    "clear_model_cache",
    "compare_to_truth",
    "estimate_illumination_function",
    "global_threshold",
    "identify_primary_objects",
    "identify_secondary_objects",
    "illumination_files",
    "image_stem",
    "intersection_over_union",
    "load_imported_masks",
    "local_models_dir",
    "make_consistent",
    "match_masks",
    "nuclei_from_dna",
    "read_mask",
    "score_segmentation",
    "segment_classical",
    "segment_imported",
    "segment_site",
    "segment_with_cellpose",
    "smooth_illumination",
    "train_cellpose_models",
]

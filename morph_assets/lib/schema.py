"""Names shared by every stage: lake tables (with the asset that writes each), columns, controls.

One place for the names the two layers compare against, so that a table or column is renamed in
one line. Column names and control labels are the field's (CellProfiler, JUMP, pycytominer),
unchanged. Each lake table is declared with the asset that writes it and how often (per well,
per plate, per study); the map from tables to assets (which the SQL models' dependencies are built
from) and each level's assets in pipeline order (:func:`assets_at`) are derived from those
declarations rather than kept by hand. Flat at the top of ``lib`` because every stage uses it and
it imports nothing of the project.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

# Key columns of every per-image, per-well and profile table (CellProfiler's ``Metadata_``
# convention: metadata columns describe, every other column is a feature).
METADATA_PREFIX = "Metadata_"
PLATE = "Metadata_Plate"
WELL = "Metadata_Well"
SITE = "Metadata_Site"
#: The object's label value in its site's label image (CellProfiler's name); joins crops to measurements.
OBJECT_NUMBER = "ObjectNumber"
#: The representation name of the crop network's profiles (``profiles_<level>_crop_cnn``).
CROP_REPRESENTATION = "crop_cnn"

# A plate layout's perturbation columns, JUMP-Target's names under the ``Metadata_`` prefix
# (as pycytominer and copairs read them).
BROAD_SAMPLE = "Metadata_broad_sample"
PERT_INAME = "Metadata_pert_iname"
TARGET_LIST = "Metadata_target_list"
PERT_TYPE = "Metadata_pert_type"
CONTROL_TYPE = "Metadata_control_type"
SOLVENT = "Metadata_solvent"
INCHIKEY = "Metadata_InChIKey"
#: A layout's well column as CellProfiler / pycytominer may write it instead of ``Metadata_Well``.
WELL_POSITION = "Metadata_well_position"

# Columns the profile steps add.
#: The perturbation a profile stands for: the compound, or the control's name for DMSO.
TREATMENT = "Metadata_treatment"
#: Which normalisation a stacked profile row went through.
NORMALIZATION = "Metadata_Normalization"
#: Rows (e.g. sites) aggregated into a well.
AGGREGATED_ROWS = "Metadata_n_rows"
#: A well's cells (the sum of its images' ``Count_Cells``), kept as metadata, not a feature.
CELL_COUNT = "Metadata_Count_Cells"
N_WELLS = "Metadata_n_wells"
N_PLATES = "Metadata_n_plates"
MEDIAN_CELLS_PER_WELL = "Metadata_median_cells_per_well"
#: Profiles aggregated into a treatment's row for clustering.
N_PROFILES = "Metadata_n_profiles"

# Columns that are not metadata but that code selects by name.
#: CellProfiler's per-image object count, a feature of every per-image table.
COUNT_CELLS = "Count_Cells"
#: The file-name prefix a site's masks and segmentation are stored under.
SITE_PREFIX = "site_prefix"
# Columns of ``errors/<table>`` besides the plate and well: the table whose step failed, the file
# it failed on, and the error message.
ERROR_TABLE = "table"
ERROR_FILE = "file"
ERROR_MESSAGE = "error"

# Control labels, JUMP's values of ``Metadata_control_type`` and ``Metadata_pert_iname``.
#: ``Metadata_control_type`` of the negative-control (DMSO) wells, as in JUMP's metadata.
NEGATIVE_CONTROL = "negcon"
#: ``Metadata_control_type`` of positive controls starts with this (``poscon_cp``, ...).
POSITIVE_CONTROL_PREFIX = "poscon"
#: JUMP-Target's positive-control types.
POSITIVE_CONTROLS = ("poscon_cp", "poscon_orf", "poscon_diverse")
#: ``Metadata_pert_iname`` of the negative-control wells (and their treatment's name).
DMSO = "DMSO"
#: ``Metadata_pert_type`` of control wells.
CONTROL_PERT_TYPE = "control"

# Lake tables. Per-well tables are written one Parquet file per well, then compacted per plate.
RAW_IMAGES = "raw_images"
PLATE_LAYOUT = "plate_layout"
ILLUMINATION = "illumination"
MASKS = "masks"
REGIONPROPS_FEATURES = "regionprops_features"
REGIONPROPS_IMAGE = "regionprops_image"
CELLPROFILER_MEAN = "cellprofiler_mean"
IMAGE_TENSORS = "image_tensors"
SINGLE_CELL_CROPS = "single_cell_crops"
SELECTED_FEATURES = "selected_features"
MAP_SUMMARY = "map_summary"
MAP_PER_TREATMENT = "map_per_treatment"
SISTER_SUMMARY = "sister_summary"
SISTER_PER_TARGET = "sister_per_target"
TRUTH_CORRELATION = "truth_correlation"
VAE_EMBEDDINGS = "vae_embeddings"
CROP_EMBEDDINGS = "crop_embeddings"
CROP_CLASSIFIER_METRICS = "crop_classifier_metrics"
CLASSIFIER_METRICS = "classifier_metrics"
TREATMENT_CLUSTERS = "treatment_clusters"
CLUSTER_SILHOUETTES = "cluster_silhouettes"
CLUSTER_VALIDATION = "cluster_validation"
HIERARCHICAL_CLUSTERS = "hierarchical_clusters"
HIERARCHICAL_STABILITY = "hierarchical_stability"
HIERARCHICAL_SUMMARY = "hierarchical_summary"

#: Levels at which profiles are kept per plate.
LEVELS = ("image", "well")
PROFILES_PREFIX = "profiles_"
SELECTED_PROFILES_PREFIX = "selected_profiles_"
TREATMENT_PROFILES_PREFIX = "treatment_profiles_"
ERRORS_PREFIX = "errors/"


class TableLevel(StrEnum):
    """How often a lake table is written: per well, per plate, or once for the whole study."""

    WELL = "well"
    PLATE = "plate"
    STUDY = "study"


class Table(NamedTuple):
    """Who writes a lake table, and how often.

    Attributes
    ----------
    owner : str
        The Dagster asset that writes the table.
    level : TableLevel
        Per well (one Parquet file per well, compacted per plate), per plate, or per study.
    """

    owner: str
    level: TableLevel


#: Lake table -> its writer and level, in the order a plate goes through the pipeline (the
#: per-well assets' order, which :func:`assets_at` keeps, is the order a well runs them).
TABLES: dict[str, Table] = {
    RAW_IMAGES: Table("raw_images", TableLevel.WELL),
    PLATE_LAYOUT: Table("plate_layout", TableLevel.PLATE),
    ILLUMINATION: Table("illumination_correction", TableLevel.PLATE),
    MASKS: Table("masks", TableLevel.WELL),
    REGIONPROPS_FEATURES: Table("regionprops_features", TableLevel.WELL),
    REGIONPROPS_IMAGE: Table("regionprops_features", TableLevel.WELL),
    CELLPROFILER_MEAN: Table("cellprofiler_mean", TableLevel.WELL),
    IMAGE_TENSORS: Table("image_tensors", TableLevel.WELL),
    SINGLE_CELL_CROPS: Table("single_cell_crops", TableLevel.WELL),
    SELECTED_FEATURES: Table("treatment_profiles", TableLevel.STUDY),
    MAP_SUMMARY: Table("map_report", TableLevel.STUDY),
    MAP_PER_TREATMENT: Table("map_report", TableLevel.STUDY),
    SISTER_SUMMARY: Table("map_report", TableLevel.STUDY),
    SISTER_PER_TARGET: Table("map_report", TableLevel.STUDY),
    TRUTH_CORRELATION: Table("map_report", TableLevel.STUDY),
    VAE_EMBEDDINGS: Table("vae_embeddings", TableLevel.STUDY),
    CROP_EMBEDDINGS: Table("crop_network", TableLevel.STUDY),
    CROP_CLASSIFIER_METRICS: Table("crop_network", TableLevel.STUDY),
    CLASSIFIER_METRICS: Table("treatment_classifiers", TableLevel.STUDY),
    TREATMENT_CLUSTERS: Table("treatment_clusters", TableLevel.STUDY),
    CLUSTER_SILHOUETTES: Table("treatment_clusters", TableLevel.STUDY),
    CLUSTER_VALIDATION: Table("cluster_validation", TableLevel.STUDY),
    HIERARCHICAL_CLUSTERS: Table("hierarchical_clusters", TableLevel.STUDY),
    HIERARCHICAL_STABILITY: Table("hierarchical_clusters", TableLevel.STUDY),
    HIERARCHICAL_SUMMARY: Table("hierarchical_clusters", TableLevel.STUDY),
}
#: Families of tables named ``<prefix><level>_<representation>`` (or ``<prefix><representation>``).
TABLE_FAMILIES: dict[str, Table] = {
    PROFILES_PREFIX: Table("well_profiles", TableLevel.PLATE),
    SELECTED_PROFILES_PREFIX: Table("treatment_profiles", TableLevel.STUDY),
    TREATMENT_PROFILES_PREFIX: Table("treatment_profiles", TableLevel.STUDY),
}
#: Lake table -> the Dagster asset that writes it.
TABLE_OWNERS: dict[str, str] = {name: table.owner for name, table in TABLES.items()}
#: Table-name prefix -> the asset that writes those tables; ``errors/<table>`` is written by the
#: asset of ``<table>`` (None: look the rest up).
TABLE_PREFIX_OWNERS: dict[str, str | None] = {
    ERRORS_PREFIX: None, **{prefix: table.owner for prefix, table in TABLE_FAMILIES.items()}}


def assets_at(level: TableLevel | str) -> tuple[str, ...]:
    """Return the assets that write lake tables at one level, in declaration order, once each.

    Parameters
    ----------
    level : TableLevel or str
        ``"well"``, ``"plate"`` or ``"study"``.

    Returns
    -------
    tuple of str
        The assets' names: tables declared one by one first, then the table families.

    Examples
    --------
    >>> assets_at("well")  # doctest: +NORMALIZE_WHITESPACE
    ('raw_images', 'masks', 'regionprops_features', 'cellprofiler_mean', 'image_tensors',
     'single_cell_crops')
    """
    level = TableLevel(level)
    declared = [*TABLES.values(), *TABLE_FAMILIES.values()]
    return tuple(dict.fromkeys(table.owner for table in declared if table.level == level))


def asset_of_table(table: str) -> str:
    """Return the asset that writes lake ``table``.

    Parameters
    ----------
    table : str
        A lake table name, e.g. ``"masks"``, ``"profiles_well_cellprofiler"`` or ``"errors/masks"``.

    Returns
    -------
    str
        The asset's name.

    Raises
    ------
    ValueError
        For a table no asset writes.

    Examples
    --------
    >>> asset_of_table("regionprops_image"), asset_of_table("errors/masks")
    ('regionprops_features', 'masks')
    """
    if table in TABLE_OWNERS:
        return TABLE_OWNERS[table]
    for prefix, asset in TABLE_PREFIX_OWNERS.items():
        if table.startswith(prefix):
            return asset if asset is not None else asset_of_table(table.removeprefix(prefix))
    raise ValueError(f"no asset writes lake table {table!r}; declare it in {__name__}")


def profile_table(level: str, representation: str) -> str:
    """Return the lake table of one representation's profiles at one level.

    Parameters
    ----------
    level : str
        One of :data:`LEVELS`.
    representation : str
        ``"pixel_statistics"``, ``"regionprops"``, ``"cellprofiler"`` or an embedding's name.

    Returns
    -------
    str
        The table name, e.g. ``profiles_well_cellprofiler``.
    """
    return f"{PROFILES_PREFIX}{level}_{representation}"


def selected_table(representation: str) -> str:
    """Return the study-level table of normalised, feature-selected well profiles.

    Parameters
    ----------
    representation : str
        The representation's name.

    Returns
    -------
    str
        The table name, e.g. ``selected_profiles_cellprofiler``.
    """
    return f"{SELECTED_PROFILES_PREFIX}{representation}"


def treatment_table(representation: str) -> str:
    """Return the study-level table of treatment consensus profiles.

    Parameters
    ----------
    representation : str
        The representation's name.

    Returns
    -------
    str
        The table name, e.g. ``treatment_profiles_cellprofiler``.
    """
    return f"{TREATMENT_PROFILES_PREFIX}{representation}"

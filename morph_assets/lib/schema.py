"""Names shared by every stage: lake tables (with the asset that writes each), key columns, controls.

One place for the names the two layers compare against, so that a table or column is renamed in
one line, and the map from lake tables to the assets that write them (which the SQL models' asset
dependencies are built from) is derived from the declarations here rather than kept by hand.
Flat at the top of ``lib`` because every stage uses it and it imports nothing.
"""

from __future__ import annotations

# Key columns of every per-image, per-well and profile table (CellProfiler's ``Metadata_``
# convention: metadata columns describe, every other column is a feature).
METADATA_PREFIX = "Metadata_"
PLATE = "Metadata_Plate"
WELL = "Metadata_Well"
SITE = "Metadata_Site"
CONTROL_TYPE = "Metadata_control_type"
#: ``Metadata_control_type`` of the negative-control (DMSO) wells, as in JUMP's metadata.
NEGATIVE_CONTROL = "negcon"

# Lake tables. Per-well tables are written one Parquet file per well, then compacted per plate.
RAW_IMAGES = "raw_images"
PLATE_LAYOUT = "plate_layout"
ILLUMINATION = "illumination"
MASKS = "masks"
REGIONPROPS_FEATURES = "regionprops_features"
REGIONPROPS_IMAGE = "regionprops_image"
CELLPROFILER_MEAN = "cellprofiler_mean"
IMAGE_TENSORS = "image_tensors"
SELECTED_FEATURES = "selected_features"
MAP_SUMMARY = "map_summary"
MAP_PER_TREATMENT = "map_per_treatment"
VAE_EMBEDDINGS = "vae_embeddings"
CLASSIFIER_METRICS = "classifier_metrics"
TREATMENT_CLUSTERS = "treatment_clusters"
CLUSTER_SILHOUETTES = "cluster_silhouettes"
CLUSTER_VALIDATION = "cluster_validation"

#: Levels at which profiles are kept per plate.
LEVELS = ("image", "well")
PROFILES_PREFIX = "profiles_"
SELECTED_PROFILES_PREFIX = "selected_profiles_"
TREATMENT_PROFILES_PREFIX = "treatment_profiles_"

#: Lake table -> the Dagster asset that writes it.
TABLE_OWNERS: dict[str, str] = {
    RAW_IMAGES: "raw_images",
    PLATE_LAYOUT: "plate_layout",
    ILLUMINATION: "illumination_correction",
    MASKS: "masks",
    REGIONPROPS_FEATURES: "regionprops_features",
    REGIONPROPS_IMAGE: "regionprops_features",
    CELLPROFILER_MEAN: "cellprofiler_mean",
    IMAGE_TENSORS: "image_tensors",
    SELECTED_FEATURES: "treatment_profiles",
    MAP_SUMMARY: "map_report",
    MAP_PER_TREATMENT: "map_report",
    VAE_EMBEDDINGS: "vae_embeddings",
    CLASSIFIER_METRICS: "treatment_classifiers",
    TREATMENT_CLUSTERS: "treatment_clusters",
    CLUSTER_SILHOUETTES: "treatment_clusters",
    CLUSTER_VALIDATION: "cluster_validation",
}
#: Families of tables named ``<prefix><level>_<representation>`` -> the asset that writes them;
#: ``errors/<table>`` is written by the asset of ``<table>`` (None: look the rest up).
TABLE_PREFIX_OWNERS: dict[str, str | None] = {
    "errors/": None,
    PROFILES_PREFIX: "well_profiles",
    SELECTED_PROFILES_PREFIX: "treatment_profiles",
    TREATMENT_PROFILES_PREFIX: "treatment_profiles",
}


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

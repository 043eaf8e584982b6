"""Study-wide inputs of the models: labelled image-level features and image tensors from the lake."""

import dagster as dg
import polars as pl

from morph_assets.lib import schema
from morph_assets.lib.io import Lake
from morph_assets.lib.profiles import selected_feature_names, usable_features, with_treatment
from morph_assets.lib.schema import (
    CONTROL_TYPE,
    NORMALIZATION,
    PERT_INAME,
    PLATE,
    PLATE_LAYOUT,
    SITE,
    TARGET_LIST,
    TREATMENT,
    WELL,
    profile_table,
)

LABEL_COLUMNS = (PLATE, WELL, SITE, TREATMENT, PERT_INAME, TARGET_LIST, CONTROL_TYPE)


def image_profiles(store: Lake, representation: str, normalization: str) -> tuple[pl.DataFrame, list[str]]:
    """Every plate's image-level profiles of one representation and normalisation, and the
    features to use (the study-wide selection for normalised profiles, all usable ones otherwise)."""
    table = profile_table("image", representation)
    if not store.plates_present(table):
        raise dg.Failure(description=f"lake table {table} has no plate yet: materialize well_profiles first")
    profiles = pl.read_parquet(store.table_glob(table)).filter(pl.col(NORMALIZATION) == normalization)
    candidates = selected_feature_names(store, representation) if normalization != "none" else []
    return profiles, usable_features(profiles, candidates or None)


def labelled_tensor_index(store: Lake) -> pl.DataFrame:
    """The image_tensors index of every plate joined to each site's treatment (sorted by plate, well, site)."""
    return labelled_index(store, schema.IMAGE_TENSORS, [PLATE, WELL, SITE])


def labelled_index(store: Lake, table: str, order: list[str]) -> pl.DataFrame:
    """Every plate's rows of a per-well index table (image tensors, single-cell crops) joined to
    each well's treatment and sorted by ``order``; one clear failure when no plate has the table."""
    if not store.plates_present(table):
        raise dg.Failure(description=f"lake table {table} has no plate yet: materialize {table} first")
    index = pl.read_parquet(store.table_glob(table))
    layout = with_treatment(pl.read_parquet(store.table_glob(PLATE_LAYOUT)))
    keep = [c for c in LABEL_COLUMNS if c in layout.columns and c != SITE]
    return index.join(layout.select(keep), on=[PLATE, WELL], how="inner").sort(order)

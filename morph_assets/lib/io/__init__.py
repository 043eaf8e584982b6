"""Storage: the Parquet feature lake and the SQL models built over it.

The lake keeps one folder per table, one Parquet file per well while a plate is being measured and
one per plate after compaction, every file written atomically; the errors table records what
failed. The SQL models are DuckDB views over the lake built in dependency order.
"""

from morph_assets.lib.io._lake import (
    PART_FILE,
    ALL_ERRORS,
    ERRORS_SCHEMA,
    LakeFullError,
    atomic_write,
    atomic_write_parquet,
    atomic_write_tiff,
    Lake,
)
from morph_assets.lib.io._sql_models import (
    ModelError,
    SqlModel,
    BuildReport,
    load_models,
    build_order,
    build_views,
)

__all__ = [
    "ALL_ERRORS",
    "BuildReport",
    "ERRORS_SCHEMA",
    "Lake",
    "LakeFullError",
    "ModelError",
    "PART_FILE",
    "SqlModel",
    "atomic_write",
    "atomic_write_parquet",
    "atomic_write_tiff",
    "build_order",
    "build_views",
    "load_models",
]

"""Where the platform keeps its lake, its incoming plates and its SQL models by default.

Environment variables override the defaults, so a deployment can point the same code at another
disk: ``MORPH_ASSETS_LAKE_ROOT``, ``MORPH_ASSETS_SOURCE_ROOT``.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The repository root when running from a checkout (the package's parent folder).
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def default_lake_root() -> Path:
    """The lake root: ``$MORPH_ASSETS_LAKE_ROOT`` or ``<project>/data_lake``."""
    return Path(os.environ.get("MORPH_ASSETS_LAKE_ROOT") or PROJECT_ROOT / "data_lake")


def default_source_root() -> Path:
    """Where plate folders arrive: ``$MORPH_ASSETS_SOURCE_ROOT`` or ``<lake root>/source``."""
    return Path(os.environ.get("MORPH_ASSETS_SOURCE_ROOT") or default_lake_root() / "source")


def sql_models_dir() -> Path:
    """The ``dbt_style_sql/`` folder of SQL models."""
    return PROJECT_ROOT / "dbt_style_sql"

"""What a study-level asset could not compute and why, kept in the lake for the study report.

A small table per asset, ``skipped_<asset>``, rewritten on every run (empty when nothing was
skipped), so a later, larger run clears the old reasons.
"""

from __future__ import annotations

import polars as pl

from morph_assets.lib.io import Lake

SKIPPED_PREFIX = "skipped_"
_COLUMNS = {"item": pl.String, "variant": pl.String, "detail": pl.String, "reason": pl.String}


def skip_row(item: str, variant: str, detail: str, reason: str) -> dict[str, str]:
    """Return one line of a ``skipped_<asset>`` table: what was not computed and why.

    Parameters
    ----------
    item : str
        What was skipped (a representation, a model).
    variant : str
        Which variant of it.
    detail : str
        The counts behind the reason.
    reason : str
        Why, in words.

    Returns
    -------
    dict of str to str
        The row.
    """
    return {"item": item, "variant": variant, "detail": detail, "reason": reason}


def write_skipped(lake: Lake, asset: str, rows: list[dict[str, str]]) -> None:
    """Record what ``asset`` skipped for lack of data (an empty table when nothing was).

    Parameters
    ----------
    lake : Lake
        The lake.
    asset : str
        The asset's name.
    rows : list of dict
        Rows from :func:`skip_row`.
    """
    lake.write_study(f"{SKIPPED_PREFIX}{asset}", pl.DataFrame(rows, schema=_COLUMNS))


def read_skipped(lake: Lake, asset: str) -> pl.DataFrame | None:
    """Return what ``asset`` skipped in its latest run.

    Parameters
    ----------
    lake : Lake
        The lake.
    asset : str
        The asset's name.

    Returns
    -------
    polars.DataFrame or None
        The ``skipped_<asset>`` table, or None when the asset never recorded anything.
    """
    table = f"{SKIPPED_PREFIX}{asset}"
    return pl.read_parquet(lake.study_file(table)) if lake.has_table(table) else None

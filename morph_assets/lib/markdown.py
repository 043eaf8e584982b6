"""Markdown renderings of tables, for Dagster metadata and printed reports."""

from __future__ import annotations

import polars as pl


def frame_to_markdown(frame: pl.DataFrame, *, max_rows: int = 20, float_precision: int = 4) -> str:
    """Return ``frame`` as a Markdown table (at most ``max_rows`` rows, the rest elided).

    Examples
    --------
    >>> print(frame_to_markdown(pl.DataFrame({"well": ["A01"], "n": [3]})))
    | well | n |
    |------|---|
    | A01  | 3 |
    """
    with pl.Config(
        tbl_formatting="MARKDOWN",
        tbl_hide_column_data_types=True,
        tbl_hide_dataframe_shape=True,
        tbl_rows=max_rows,
        tbl_cols=-1,
        tbl_width_chars=10_000,
        fmt_str_lengths=80,
        float_precision=float_precision,
    ):
        return str(frame)

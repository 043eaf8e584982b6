"""Query results as text for the terminal: an aligned table, CSV, Markdown or JSON, values whole.

``morph-assets sql`` and the demo's closing summary print through these. No value is shortened
(feature names, QC reasons and target lists are long and are what the reader came for), and no
shape or dtype rows are added. A table wider than the terminal is printed one record per block
(``column | value`` lines), the way psql's expanded mode does, so it never wraps into a mess;
piped into a file or ``less -S`` it stays one line per row.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import math
from decimal import Decimal

import polars as pl

from morph_assets.lib.report._markdown import frame_to_markdown

#: The formats ``morph-assets sql --format`` accepts.
FORMATS = ("table", "csv", "markdown", "json")
#: How a missing value reads in the aligned table (an empty cell would look like an empty string).
NULL_TEXT = "null"


def text_cell(value: object) -> str:
    """Show a value as the aligned table shows it: whole, floats in their shortest exact form.

    Parameters
    ----------
    value : object
        A cell of a query result.

    Returns
    -------
    str
        Its text.

    Examples
    --------
    >>> text_cell(0.1), text_cell(None), text_cell(True), text_cell(["EGFR", "ERBB2"])
    ('0.1', 'null', 'true', '["EGFR", "ERBB2"]')
    """
    if value is None:
        return NULL_TEXT
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, default=str)
    return str(value)  # str(float) is the shortest text that reads back as the same float


def frame_to_text(frame: pl.DataFrame, *, width: int | None = None) -> str:
    """An aligned plain-text table (header, a rule, one line per row), or records when too wide.

    Parameters
    ----------
    frame : pl.DataFrame
        The rows to show, all of them.
    width : int, optional
        The terminal's width in characters. When the table's widest line is longer, each row
        is printed as a block of ``column | value`` lines instead. ``None``: never switch.

    Returns
    -------
    str
        The table without a trailing newline; ``"(no rows)"`` under the header when empty.

    Examples
    --------
    >>> print(frame_to_text(pl.DataFrame({"well": ["A01", "B02"], "cells": [12, 7]})))
    well  cells
    ----  -----
    A01      12
    B02       7
    >>> print(frame_to_text(pl.DataFrame({"well": ["A01"], "reason": ["no masks"]}), width=10))
    -[ row 1 ]-
    well   | A01
    reason | no masks
    """
    cells = [[text_cell(value) for value in row] for row in frame.rows()]
    names = frame.columns
    widths = [max([len(name), *(len(row[i]) for row in cells)]) for i, name in enumerate(names)]
    right = [dtype.is_numeric() for dtype in frame.dtypes]

    def line(values: list[str]) -> str:
        padded = [value.rjust(w) if r else value.ljust(w) for value, w, r in zip(values, widths, right, strict=True)]
        return "  ".join(padded).rstrip()

    lines = [line(list(names)), line(["-" * w for w in widths])] + [line(row) for row in cells]
    if width is not None and cells and max(len(text) for text in lines) > width:
        label = max(len(name) for name in names)
        blocks = []
        for number, row in enumerate(cells, start=1):
            blocks.append(f"-[ row {number} ]-")
            blocks += [f"{name.ljust(label)} | {value}" for name, value in zip(names, row, strict=True)]
        return "\n".join(blocks)
    if not cells:
        lines.append("(no rows)")
    return "\n".join(lines)


def _plain(value: object) -> object:
    """A value JSON can hold: NaN and infinities as null (JSON has neither), dates as ISO text."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime.date | datetime.time | datetime.timedelta):
        return value.isoformat() if not isinstance(value, datetime.timedelta) else value.total_seconds()
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def frame_to_json(frame: pl.DataFrame) -> str:
    """Return the rows as a JSON array of objects (one per row, columns in order), values whole.

    Parameters
    ----------
    frame : polars.DataFrame
        A query result.

    Returns
    -------
    str
        The JSON text; NaN and null become ``null``.

    Examples
    --------
    >>> frame_to_json(pl.DataFrame({"well": ["A01"], "map": [float("nan")]}))
    '[{"well": "A01", "map": null}]'
    """
    return json.dumps([{key: _plain(value) for key, value in row.items()} for row in frame.iter_rows(named=True)],
                      allow_nan=False)


def frame_to_csv(frame: pl.DataFrame) -> str:
    """Return the rows as CSV with a header line (RFC 4180 quoting; nested values as JSON text, null empty).

    Parameters
    ----------
    frame : polars.DataFrame
        A query result.

    Returns
    -------
    str
        The CSV text.

    Examples
    --------
    >>> print(frame_to_csv(pl.DataFrame({"target_list": ["EGFR|ERBB2"], "reason": ["a, b"]})), end="")
    target_list,reason
    EGFR|ERBB2,"a, b"
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(frame.columns)
    for row in frame.rows():
        writer.writerow(["" if value is None else (text_cell(value) if not isinstance(value, float) else repr(value))
                         for value in row])
    return buffer.getvalue()


def render(frame: pl.DataFrame, fmt: str, *, width: int | None = None) -> str:
    """Render ``frame`` in one of :data:`FORMATS`.

    Parameters
    ----------
    frame : polars.DataFrame
        A query result.
    fmt : str
        ``"table"``, ``"csv"``, ``"markdown"`` or ``"json"``.
    width : int, optional
        Terminal width; only the aligned table uses it.

    Returns
    -------
    str
        The text to print.

    Raises
    ------
    ValueError
        If ``fmt`` is not one of :data:`FORMATS`.
    """
    if fmt == "table":
        return frame_to_text(frame, width=width)
    if fmt == "csv":
        return frame_to_csv(frame).rstrip("\n")
    if fmt == "markdown":
        return frame_to_markdown(frame, max_rows=max(frame.height, 1), float_precision=None)
    if fmt == "json":
        return frame_to_json(frame)
    raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")

"""Markdown renderings of tables and figures, for Dagster metadata and printed reports.

Tables are written cell by cell rather than through polars' own Markdown formatter: a cell
holding ``|`` (JUMP's multi-target lists, ``"EGFR|ERBB2"``) must be escaped or it splits the
row, and a table cut to ``max_rows`` must show its first rows (polars shows the first and the
last, so a "top 15" list would end with the worst).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Sequence

import polars as pl


def escape_cell(value: object, *, float_precision: int | None = 4) -> str:
    """One table cell as Markdown text: ``|`` escaped, line breaks as ``<br>``, floats rounded.

    Parameters
    ----------
    value : object
        The cell's value; ``None`` and NaN are shown empty.
    float_precision : int or None
        Digits after the decimal point for floats; ``None`` for the shortest exact form.

    Returns
    -------
    str
        Text that stays inside one cell of a GitHub-flavoured Markdown table.

    Examples
    --------
    >>> escape_cell("EGFR|ERBB2")
    'EGFR\\\\|ERBB2'
    >>> escape_cell(0.123456, float_precision=3), escape_cell(None), escape_cell(float("nan"))
    ('0.123', '', '')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        text = "true" if value else "false"  # as SQL and polars print them
    elif isinstance(value, float):
        text = repr(value) if float_precision is None else f"{value:.{float_precision}f}"
    elif isinstance(value, list | tuple):
        text = ", ".join("" if item is None else str(item) for item in value)
    else:
        text = str(value)
    # A backslash first, so the escapes added for '|' are not themselves escaped twice.
    text = text.replace("\\", "\\\\").replace("|", "\\|")
    return text.replace("\r\n", "<br>").replace("\n", "<br>").replace("\r", "<br>")


def markdown_table(
    header: Sequence[str], rows: Sequence[Sequence[object]], *, float_precision: int | None = 4
) -> str:
    """A Markdown table from a header and rows, every cell escaped (see :func:`escape_cell`).

    Parameters
    ----------
    header : sequence of str
        Column names.
    rows : sequence of sequences
        One sequence of cell values per row, as long as ``header``.
    float_precision : int or None
        Digits after the decimal point for float cells; ``None`` for the shortest exact form.

    Returns
    -------
    str
        The table, one line per row, without a trailing newline.

    Raises
    ------
    ValueError
        If a row's length differs from the header's.

    Examples
    --------
    >>> print(markdown_table(["target_list", "n"], [["EGFR|ERBB2", 2]]))
    | target_list | n |
    |---|---|
    | EGFR\\|ERBB2 | 2 |
    """
    for number, row in enumerate(rows):
        if len(row) != len(header):
            raise ValueError(f"markdown_table: row {number} has {len(row)} cells for {len(header)} columns {list(header)}")
    lines = ["| " + " | ".join(escape_cell(name) for name in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(escape_cell(cell, float_precision=float_precision) for cell in row) + " |"
              for row in rows]
    return "\n".join(lines)


def frame_to_markdown(frame: pl.DataFrame, *, max_rows: int = 20, float_precision: int | None = 4) -> str:
    """Return ``frame`` as a Markdown table: its first ``max_rows`` rows, then a line counting the rest.

    Parameters
    ----------
    frame : pl.DataFrame
        Any frame; list columns are shown comma-separated, structs as text.
    max_rows : int
        Rows shown; a frame sorted best first therefore shows its best rows.
    float_precision : int or None
        Digits after the decimal point for float cells; ``None`` for the shortest exact form.

    Returns
    -------
    str
        The Markdown table (every cell escaped, one cell per column in every row), followed by
        ``"(N more rows)"`` when rows were left out.

    Examples
    --------
    >>> print(frame_to_markdown(pl.DataFrame({"well": ["A01", "A02", "A03"], "n": [3, 4, 5]}), max_rows=2))
    | well | n |
    |---|---|
    | A01 | 3 |
    | A02 | 4 |
    <BLANKLINE>
    (1 more row)
    """
    shown = frame.head(max_rows)
    table = markdown_table(frame.columns, shown.rows(), float_precision=float_precision)
    hidden = frame.height - shown.height
    if hidden:
        table += f"\n\n({hidden} more row{'s' if hidden != 1 else ''})"
    return table


def figure_markdown(png_markdown_text: str, caption: str) -> str:
    """A figure for Dagster metadata: a bold caption line above the embedded image.

    Dagster shows long Markdown metadata behind a "[Show Markdown]" link titled with the key;
    the caption tells the reader which plot opened and how to read it.

    Parameters
    ----------
    png_markdown_text : str
        The image, e.g. from :func:`png_markdown`.
    caption : str
        One or two sentences: what is plotted, against what.

    Returns
    -------
    str
        ``"**caption**\\n\\n<image>"``.
    """
    return f"**{caption.strip()}**\n\n{png_markdown_text}"


def png_markdown(png: bytes, alt: str) -> str:
    """Embed PNG bytes in Markdown (Dagster has no image metadata type; the UI renders this).

    Parameters
    ----------
    png : bytes
        A PNG file's bytes, e.g. from :func:`morph_assets.lib.plot.to_png`.
    alt : str
        Alternative text.

    Returns
    -------
    str
        A Markdown image with the PNG inline as a base64 data URL.
    """
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def plates_label(plates: Iterable[str]) -> str:
    """Say which plates a check result speaks for: ``"plate P1"`` or ``"plates P1, P2"``.

    A plate's check result replaces the previous plate's in the UI's latest-result view, so each
    result says whose it is.

    Parameters
    ----------
    plates : iterable of str
        Plate barcodes (repeats allowed).

    Returns
    -------
    str
        The label, ``"plates none"`` for no plate.
    """
    names = sorted(set(plates))
    return f"plate{'s' if len(names) != 1 else ''} {', '.join(names) or 'none'}"

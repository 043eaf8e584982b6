"""Markdown tables: every row keeps the frame's columns, ``|`` and line breaks stay inside their cell."""

import polars as pl
import pytest

from morph_assets.lib.report import escape_cell, frame_to_markdown, markdown_table


def parse_table(text: str) -> tuple[list[str], list[list[str]]]:
    """Read a GFM table back: cells split at unescaped pipes, escapes undone (independent of the renderer)."""
    lines = [line for line in text.splitlines() if line.startswith("|")]

    def cells(line: str) -> list[str]:
        found, current, index = [], "", 1  # skip the leading pipe
        while index < len(line):
            char = line[index]
            if char == "\\" and index + 1 < len(line):
                current += line[index + 1]
                index += 2
                continue
            if char == "|":
                found.append(current.strip().replace("<br>", "\n"))
                current = ""
            else:
                current += char
            index += 1
        return found

    header, rule, *rows = (cells(line) for line in lines)
    assert all(set(cell) <= {"-", ":"} and cell for cell in rule)
    return header, rows


def test_pipes_backslashes_and_line_breaks_stay_in_their_cell():
    frame = pl.DataFrame({
        "Metadata_target_list": ["EGFR|ERBB2|ERBB4", "HTR2A", None],
        "path": ["C:\\plates\\a|b.tiff", "x", "y"],
        "reason": ["first line\nsecond line", "", "ok"],
        "p_value": [0.000123456, 0.5, float("nan")],
        "n": [3, 4, 5],
    })
    header, rows = parse_table(frame_to_markdown(frame, float_precision=3))
    assert header == frame.columns
    assert [len(row) for row in rows] == [5, 5, 5]
    assert [row[0] for row in rows] == ["EGFR|ERBB2|ERBB4", "HTR2A", ""]
    assert rows[0][1] == "C:\\plates\\a|b.tiff"
    assert rows[0][2] == "first line\nsecond line"
    # 0.000123456 to three decimals, 0.5 as 0.500, NaN empty; integers as written
    assert [row[3] for row in rows] == ["0.000", "0.500", ""] and [row[4] for row in rows] == ["3", "4", "5"]


def test_a_long_table_shows_its_first_rows_and_counts_the_rest():
    frame = pl.DataFrame({"treatment": [f"T{i}" for i in range(10)], "map": [1 - i / 10 for i in range(10)]})
    text = frame_to_markdown(frame, max_rows=3)
    _, rows = parse_table(text)
    assert [row[0] for row in rows] == ["T0", "T1", "T2"]  # the top three, not the first and last
    assert text.endswith("(7 more rows)")


def test_markdown_table_refuses_a_row_of_another_length():
    with pytest.raises(ValueError, match="row 1 has 1 cells for 2 columns"):
        markdown_table(["a", "b"], [[1, 2], [3]])


def test_escape_cell_shortest_float_and_booleans():
    assert escape_cell(0.1 + 0.2, float_precision=None) == "0.30000000000000004"
    assert escape_cell(True) == "true" and escape_cell(["A", None, "B"]) == "A, , B"

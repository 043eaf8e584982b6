"""Terminal renderings: whole values, CSV and JSON that read back to the frame, records when too wide."""

import csv
import io
import json

import polars as pl

from morph_assets.lib.report import frame_to_csv, frame_to_json, frame_to_text

LONG_FEATURE = "Cells_Texture_InfoMeas1_AGP_3_02_256_" + "x" * 120


def sample() -> pl.DataFrame:
    return pl.DataFrame({
        "feature": [LONG_FEATURE, "Nuclei_AreaShape_Area"],
        "target_list": ["EGFR|ERBB2", None],
        "reason": ['a, "quoted"\nreason', "ok"],
        "value": [0.1 + 0.2, float("inf")],
        "n": [1, None],
    })


def test_csv_reads_back_to_the_same_values():
    rows = list(csv.reader(io.StringIO(frame_to_csv(sample()))))
    assert rows[0] == sample().columns
    assert rows[1] == [LONG_FEATURE, "EGFR|ERBB2", 'a, "quoted"\nreason', "0.30000000000000004", "1"]
    assert rows[2] == ["Nuclei_AreaShape_Area", "", "ok", "inf", ""]
    assert float(rows[1][3]) == 0.1 + 0.2  # the float's exact value, not a rounding


def test_json_is_one_object_per_row_with_nulls_for_missing_and_infinite():
    assert json.loads(frame_to_json(sample())) == [
        {"feature": LONG_FEATURE, "target_list": "EGFR|ERBB2", "reason": 'a, "quoted"\nreason',
         "value": 0.1 + 0.2, "n": 1},
        {"feature": "Nuclei_AreaShape_Area", "target_list": None, "reason": "ok", "value": None, "n": None},
    ]


def test_table_keeps_long_values_whole_and_aligns_columns():
    frame = pl.DataFrame({"feature": [LONG_FEATURE, "Area"], "n": [7, 12]})
    lines = frame_to_text(frame).splitlines()
    assert lines[0].split() == ["feature", "n"] and "shape" not in frame_to_text(frame)
    assert lines[2] == f"{LONG_FEATURE}   7" and lines[3] == "Area" + " " * (len(LONG_FEATURE) - 4) + "  12"


def test_table_wider_than_the_terminal_becomes_one_block_per_row():
    text = frame_to_text(pl.DataFrame({"feature": [LONG_FEATURE, "Area"], "n": [7, 12]}), width=80)
    assert text.splitlines() == ["-[ row 1 ]-", f"feature | {LONG_FEATURE}", "n       | 7",
                                 "-[ row 2 ]-", "feature | Area", "n       | 12"]


def test_an_empty_result_says_so():
    assert frame_to_text(pl.DataFrame({"well": []}, schema={"well": pl.String})).splitlines() == [
        "well", "----", "(no rows)"]

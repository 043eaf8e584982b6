"""Tests of plate layouts: the embedded JUMP-Target-1 map and the errors of broken files."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from morph_assets.lib.plates import (
    LAYOUT_COLUMNS,
    WELLS_384,
    LayoutError,
    embedded_layout,
    embedded_layout_files,
    read_layout,
)


def _read_tsv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


def _write_tsv(path: Path, rows: list[dict[str, str]], fieldnames: list[str]) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fieldnames, delimiter="\t", quoting=csv.QUOTE_NONE, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def layout() -> pl.DataFrame:
    return embedded_layout()


@pytest.fixture(scope="module")
def raw() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    platemap, metadata = embedded_layout_files()
    return _read_tsv(platemap), _read_tsv(metadata)


def test_embedded_layout_shape(layout):
    assert layout.columns == list(LAYOUT_COLUMNS)
    assert layout["Metadata_Well"].to_list() == sorted(WELLS_384)
    assert layout["Metadata_Well"].is_unique().all()


def test_embedded_layout_controls(layout):
    negcon = layout.filter(pl.col("Metadata_control_type") == "negcon")
    assert negcon.height == 64
    assert set(negcon["Metadata_pert_iname"]) == {"DMSO"}
    assert negcon["Metadata_broad_sample"].null_count() == 64
    compounds = layout["Metadata_broad_sample"].drop_nulls()
    assert compounds.n_unique() == 306
    assert layout.filter(pl.col("Metadata_pert_iname") == "DMSO").height == 64
    diverse = layout.filter(pl.col("Metadata_control_type") == "poscon_diverse")
    counts = Counter(diverse["Metadata_broad_sample"].to_list())
    assert len(counts) == 14
    assert set(counts.values()) == {2}


def _check_against_raw(layout: pl.DataFrame, platemap_rows, metadata_rows, *, dmso_row: bool = True) -> None:
    """Compare a read layout with the raw JUMP-Target rows read by the csv module."""
    assert len(platemap_rows) == 384
    by_sample = {row["broad_sample"]: row for row in metadata_rows}
    by_well = {row["Metadata_Well"]: row for row in layout.iter_rows(named=True)}
    empty = 0
    for row in platemap_rows:
        got = by_well[row["well_position"]]
        sample = row["broad_sample"]
        if sample == "":
            empty += 1
            assert got["Metadata_broad_sample"] is None
            assert got["Metadata_pert_iname"] == "DMSO" and got["Metadata_control_type"] == "negcon"
            assert got["Metadata_target_list"] is None and got["Metadata_pert_type"] == "control"
            # DMSO's row in the metadata ("NA") gives its InChIKey; without that row there is none.
            assert got["Metadata_InChIKey"] == (by_sample["NA"]["InChIKey"] if dmso_row else None)
        else:
            assert got["Metadata_broad_sample"] == sample
            meta = by_sample[sample]
            expected_targets = None if meta["target_list"] in ("", "NA") else meta["target_list"]
            assert got["Metadata_target_list"] == expected_targets, row["well_position"]
            assert got["Metadata_pert_type"] == meta["pert_type"]
            assert got["Metadata_control_type"] == (None if meta["control_type"] == "NA" else meta["control_type"])
            assert got["Metadata_pert_iname"] == meta["pert_iname"]
            assert got["Metadata_InChIKey"] == meta["InChIKey"]
        assert got["Metadata_solvent"] == row["solvent"]
    assert empty == 64
    # Targets are |-separated gene symbols, never with stray whitespace.
    for targets in layout["Metadata_target_list"].drop_nulls():
        assert all(gene and gene == gene.strip() for gene in targets.split("|"))


def test_embedded_layout_matches_raw_tsv(layout, raw):
    _check_against_raw(layout, *raw)


def _write_delimited(path: Path, rows: list[dict[str, str]], fieldnames: list[str], separator: str) -> Path:
    with open(path, "w", newline="") as handle:
        quoting = csv.QUOTE_MINIMAL if separator == "," else csv.QUOTE_NONE
        writer = csv.writer(handle, delimiter=separator, quoting=quoting, lineterminator="\n")
        writer.writerow(fieldnames)
        writer.writerows([[row[name] for name in row] for row in rows])
    return path


@pytest.mark.parametrize("well_column", ["Metadata_Well", "Metadata_well_position", "well_position"])
@pytest.mark.parametrize(("platemap_suffix", "metadata_suffix"), [(".txt", ".csv"), (".csv", ".txt"), (".csv", ".tsv")])
@pytest.mark.parametrize("dmso_row", [True, False])
def test_real_jump_target_files_renamed_with_metadata_prefixes(
    tmp_path, raw, well_column, platemap_suffix, metadata_suffix, dmso_row
):
    # The vendored JUMP-Target files as users have them: JUMP's .txt platemaps, CSV exports,
    # Metadata_-prefixed columns, wells written A1, and a metadata file without the DMSO row.
    platemap_rows, metadata_rows = raw
    separator = {".txt": "\t", ".tsv": "\t", ".csv": ","}
    platemap = _write_delimited(
        tmp_path / f"platemap{platemap_suffix}",
        [{"w": f"{row['well_position'][0]}{int(row['well_position'][1:])}",  # A01 written as A1
          "b": row["broad_sample"], "s": row["solvent"]} for row in platemap_rows],
        [well_column, "Metadata_broad_sample", "Metadata_solvent"],
        separator[platemap_suffix],
    )
    kept = [row for row in metadata_rows if dmso_row or row["broad_sample"] != "NA"]
    assert len(kept) == len(metadata_rows) - (0 if dmso_row else 1)
    metadata = _write_delimited(
        tmp_path / f"compound_metadata{metadata_suffix}",
        kept,
        [f"Metadata_{name}" for name in metadata_rows[0]],
        separator[metadata_suffix],
    )
    if metadata_suffix == ".csv":  # SMILES and InChI hold commas: the CSV must quote them
        assert '"' in metadata.read_text()
    _check_against_raw(read_layout(platemap, metadata), platemap_rows, metadata_rows, dmso_row=dmso_row)


def test_readme_plate_format_as_written(tmp_path):
    # README "Add a real plate": platemap.tsv with well_position, broad_sample, solvent and an empty
    # broad_sample for DMSO; compound_metadata.tsv with broad_sample, pert_iname, target_list,
    # pert_type, control_type and no DMSO row.
    platemap = tmp_path / "platemap.tsv"
    platemap.write_text("well_position\tbroad_sample\tsolvent\nA01\tBRD-K1\tDMSO\nA02\t\tDMSO\nB1\tBRD-K2\tDMSO\n")
    metadata = tmp_path / "compound_metadata.tsv"
    metadata.write_text(
        "broad_sample\tpert_iname\ttarget_list\tpert_type\tcontrol_type\n"
        "BRD-K1\tamlodipine\tCACNA1C|CACNB1\ttrt\tNA\n"
        "BRD-K2\ttacrine\tACHE\tcontrol\tposcon_cp\n"
    )
    frame = read_layout(platemap, metadata)
    assert frame.rows() == [
        ("A01", "BRD-K1", "amlodipine", "CACNA1C|CACNB1", "trt", None, "DMSO", None),
        ("A02", None, "DMSO", None, "control", "negcon", "DMSO", None),
        ("B01", "BRD-K2", "tacrine", "ACHE", "control", "poscon_cp", "DMSO", None),
    ]
    assert all(dtype == pl.String for dtype in frame.schema.values())


def test_identifiers_stay_text(tmp_path):
    platemap = tmp_path / "platemap.csv"
    platemap.write_text("Metadata_Well,Metadata_broad_sample\nA01,00123\nA02,\n")
    metadata = tmp_path / "compound_metadata.csv"
    metadata.write_text("broad_sample,pert_iname,target_list,pert_type,control_type\n00123,0042,NA,trt,NA\n")
    frame = read_layout(platemap, metadata)
    assert frame["Metadata_broad_sample"].to_list() == ["00123", None]
    assert frame["Metadata_pert_iname"].to_list() == ["0042", "DMSO"]


def test_blank_cells_and_byte_order_mark(tmp_path):
    # Excel writes a UTF-8 byte-order mark before the first header and pads cells with spaces.
    platemap = tmp_path / "platemap.csv"
    platemap.write_bytes("\ufeffMetadata_Well,Metadata_broad_sample\nA01 , BRD-K1\nA02,  \n".encode())
    metadata = tmp_path / "compound_metadata.csv"
    metadata.write_text("broad_sample,pert_iname,target_list,pert_type,control_type\nBRD-K1,x,NA,trt,NA\n")
    frame = read_layout(platemap, metadata)
    assert frame.select("Metadata_Well", "Metadata_broad_sample", "Metadata_pert_iname").rows() == [
        ("A01", "BRD-K1", "x"), ("A02", None, "DMSO")]


@pytest.fixture()
def small_files(tmp_path: Path) -> tuple[Path, Path]:
    platemap = _write_tsv(
        tmp_path / "platemap.tsv",
        [
            {"well_position": "A1", "broad_sample": "BRD-1", "solvent": "DMSO"},
            {"well_position": "a02", "broad_sample": "", "solvent": "DMSO"},
            {"well_position": "B01", "broad_sample": "BRD-2", "solvent": "DMSO"},
        ],
        ["well_position", "broad_sample", "solvent"],
    )
    metadata = _write_tsv(
        tmp_path / "metadata.tsv",
        [
            {"broad_sample": "BRD-1", "pert_iname": "one", "target_list": "G1|G2", "pert_type": "trt", "control_type": "NA"},
            {"broad_sample": "BRD-2", "pert_iname": "two", "target_list": "NA", "pert_type": "control", "control_type": "poscon_cp"},
            {"broad_sample": "NA", "pert_iname": "DMSO", "target_list": "NA", "pert_type": "control", "control_type": "negcon"},
        ],
        ["broad_sample", "pert_iname", "target_list", "pert_type", "control_type"],
    )
    return platemap, metadata


def test_read_small_layout(small_files):
    frame = read_layout(*small_files)
    assert frame.rows() == [
        ("A01", "BRD-1", "one", "G1|G2", "trt", None, "DMSO", None),
        ("A02", None, "DMSO", None, "control", "negcon", "DMSO", None),
        ("B01", "BRD-2", "two", None, "control", "poscon_cp", "DMSO", None),
    ]


def test_missing_column(small_files):
    platemap, metadata = small_files
    rows = _read_tsv(metadata)
    for row in rows:
        del row["pert_type"]
    _write_tsv(metadata, rows, ["broad_sample", "pert_iname", "target_list", "control_type"])
    with pytest.raises(LayoutError, match=r"missing column\(s\) \['pert_type'\]") as caught:
        read_layout(platemap, metadata)
    assert str(metadata) in str(caught.value)


def test_missing_platemap_column(small_files):
    platemap, metadata = small_files
    platemap.write_text("plate_well\tbroad_sample\nA01\tBRD-1\n")
    with pytest.raises(LayoutError, match=r"missing column\(s\) \['well_position'\]") as caught:
        read_layout(platemap, metadata)
    assert str(caught.value).startswith(str(platemap))


def test_unknown_broad_sample(small_files):
    platemap, metadata = small_files
    with open(platemap, "a") as handle:
        handle.write("B02\tBRD-MISSING\tDMSO\n")
    with pytest.raises(LayoutError, match="BRD-MISSING") as caught:
        read_layout(platemap, metadata)
    message = str(caught.value)
    assert str(platemap) in message and "metadata.tsv" in message and "1 broad_sample" in message


def test_duplicated_well(small_files):
    platemap, metadata = small_files
    with open(platemap, "a") as handle:
        handle.write("A01\tBRD-2\tDMSO\n")  # A1 and A01 are the same well
    with pytest.raises(LayoutError, match=r"more than once: \['A01'\]") as caught:
        read_layout(platemap, metadata)
    assert str(platemap) in str(caught.value)


def test_invalid_well_name(small_files):
    platemap, metadata = small_files
    with open(platemap, "a") as handle:
        handle.write("Z99\tBRD-2\tDMSO\n")
    with pytest.raises(LayoutError, match="'Z99' is not a well") as caught:
        read_layout(platemap, metadata)
    assert str(platemap) in str(caught.value)


def test_duplicated_metadata_sample(small_files):
    platemap, metadata = small_files
    with open(metadata, "a") as handle:
        handle.write("BRD-1\tagain\tNA\ttrt\tNA\n")
    with pytest.raises(LayoutError, match="BRD-1") as caught:
        read_layout(platemap, metadata)
    assert str(metadata) in str(caught.value)


def test_missing_file(small_files, tmp_path):
    _, metadata = small_files
    missing = tmp_path / "nope.tsv"
    with pytest.raises(LayoutError, match="cannot read") as caught:
        read_layout(missing, metadata)
    assert str(missing) in str(caught.value)


_PLATEMAP_CSV = "Metadata_Well,Metadata_broad_sample\nA1,BRD-K1\nA02,\n"
_METADATA_CSV = "Metadata_broad_sample,pert_iname,target_list,pert_type,control_type\nBRD-K1,x,NA,trt,NA\n"


@pytest.mark.parametrize(
    ("which", "platemap_text", "metadata_text", "column", "value", "fix"),
    [
        ("platemap", "Metadata_Well,Metadata_broad_sample\nA01,BRD-K1\nZ99,\n", _METADATA_CSV,
         "'Metadata_Well', line 3", "'Z99'", "write wells as A1 or A01"),
        ("platemap", _PLATEMAP_CSV + "A01,BRD-K1\n", _METADATA_CSV,
         "'Metadata_Well'", "['A01', 'A1']", "keep one row per well"),
        ("platemap", _PLATEMAP_CSV + "B01,BRD-MISSING\n", _METADATA_CSV,
         "'Metadata_broad_sample'", "['BRD-MISSING']", "add a row for each to compound_metadata.csv"),
        ("metadata", _PLATEMAP_CSV, _METADATA_CSV + "BRD-K1,y,NA,trt,NA\n",
         "'Metadata_broad_sample'", "['BRD-K1']", "keep one row per broad_sample"),
        ("metadata", _PLATEMAP_CSV, _METADATA_CSV.replace(",pert_type", ",type"),
         "missing column(s) ['pert_type']", "'type'", "add or rename the column"),
        ("platemap", "well_position,Metadata_Well,broad_sample\nA01,A01,BRD-K1\n", _METADATA_CSV,
         "'well_position' and 'Metadata_Well'", "both give well_position", "keep one of them"),
    ],
    ids=["bad-well", "duplicated-well", "unknown-broad-sample", "duplicated-broad-sample", "missing-column",
         "two-well-columns"],
)
def test_errors_name_file_column_value_and_fix(tmp_path, which, platemap_text, metadata_text, column, value, fix):
    platemap = tmp_path / "platemap.csv"
    platemap.write_text(platemap_text)
    metadata = tmp_path / "compound_metadata.csv"
    metadata.write_text(metadata_text)
    with pytest.raises(LayoutError) as caught:
        read_layout(platemap, metadata)
    message = str(caught.value)
    assert message.startswith(f"{platemap if which == 'platemap' else metadata}: ")
    assert column in message and value in message and fix in message
    assert "\n" not in message and "'NA'" not in message  # one line, in the user's words


def test_dmso_is_never_reported_as_an_unknown_na(tmp_path):
    # The report: an empty broad_sample and a metadata file without a DMSO row gave
    # "1 broad_sample(s) have no row in compound_metadata.tsv, e.g. ['NA']".
    platemap = tmp_path / "platemap.tsv"
    platemap.write_text("well_position\tbroad_sample\nA01\t\nA02\tBRD-MISSING\n")
    metadata = tmp_path / "compound_metadata.tsv"
    metadata.write_text("broad_sample\tpert_iname\ttarget_list\tpert_type\tcontrol_type\nBRD-K1\tx\tNA\ttrt\tNA\n")
    with pytest.raises(LayoutError, match=r"1 broad_sample\(s\) have no row .*e\.g\. \['BRD-MISSING'\]"):
        read_layout(platemap, metadata)


_METADATA_HEADER = "broad_sample\tpert_iname\ttarget_list\tpert_type\tcontrol_type\n"


def test_a_cp1252_file_is_decoded_whole_even_past_the_first_10_kb(tmp_path):
    filler = "".join(f"BRD-{i}\tcompound number {i} with a longish name\tNA\ttrt\tNA\n" for i in range(300))
    assert len(filler.encode()) > 10_000
    metadata = tmp_path / "compound_metadata.tsv"
    metadata.write_bytes((_METADATA_HEADER + filler + "BRD-X\t10 µM é-thing\tNA\ttrt\tNA\n").encode("cp1252"))
    assert b"10 \xb5M \xe9-thing" in metadata.read_bytes()  # cp1252's own bytes for µ and é
    platemap = tmp_path / "platemap.tsv"
    platemap.write_text("well_position\tbroad_sample\nA01\tBRD-X\n")
    assert read_layout(platemap, metadata)["Metadata_pert_iname"].to_list() == ["10 µM é-thing"]


def test_excel_unicode_text_is_utf16_with_a_byte_order_mark(tmp_path):
    platemap = tmp_path / "platemap.txt"
    platemap.write_bytes("well_position\tbroad_sample\r\nA01\tBRD-µ\r\n".encode("utf-16"))
    metadata = tmp_path / "compound_metadata.tsv"
    metadata.write_text(_METADATA_HEADER + "BRD-µ\tx\tNA\ttrt\tNA\n", encoding="utf-8")
    assert read_layout(platemap, metadata)["Metadata_broad_sample"].to_list() == ["BRD-µ"]


@pytest.mark.parametrize("tail", ["\n\n\n", "\t\n", "  \t \n\n", "\r\n\t\r\n"])
def test_blank_rows_at_the_end_are_ignored(tmp_path, tail):
    platemap = tmp_path / "platemap.tsv"
    platemap.write_text("well_position\tbroad_sample\nA01\tBRD-1\n" + tail)
    metadata = tmp_path / "compound_metadata.tsv"
    metadata.write_text(_METADATA_HEADER + "BRD-1\tx\tNA\ttrt\tNA\n")
    assert read_layout(platemap, metadata)["Metadata_Well"].to_list() == ["A01"]


def test_errors_after_a_blank_row_name_the_file_line(tmp_path):
    platemap = tmp_path / "platemap.tsv"
    platemap.write_text("well_position\tbroad_sample\nA01\tBRD-1\n\nZ99\tBRD-1\n")
    metadata = tmp_path / "compound_metadata.tsv"
    metadata.write_text(_METADATA_HEADER + "BRD-1\tx\tNA\ttrt\tNA\n")
    with pytest.raises(LayoutError, match=r"column 'well_position', line 4: 'Z99' is not a well"):
        read_layout(platemap, metadata)


def test_quoted_tsv_as_r_write_table_writes_it(tmp_path):
    # write.table(df, sep = "\t", row.names = FALSE): strings quoted, NA bare
    platemap = tmp_path / "platemap.tsv"
    platemap.write_text('"well_position"\t"broad_sample"\n"A01"\t"BRD-1"\n"A02"\tNA\n')
    metadata = tmp_path / "compound_metadata.tsv"
    metadata.write_text('"broad_sample"\t"pert_iname"\t"target_list"\t"pert_type"\t"control_type"\n'
                        '"BRD-1"\t"say ""hi"""\t"EGFR"\t"trt"\tNA\n')
    frame = read_layout(platemap, metadata)
    assert frame.select("Metadata_Well", "Metadata_broad_sample", "Metadata_pert_iname").rows() == [
        ("A01", "BRD-1", 'say "hi"'), ("A02", None, "DMSO")]


def test_unquoted_tsv_keeps_quote_characters_inside_fields(tmp_path):
    platemap = tmp_path / "platemap.tsv"
    platemap.write_text('well_position\tbroad_sample\nA01\tBRD-1\n')
    metadata = tmp_path / "compound_metadata.tsv"
    metadata.write_text(_METADATA_HEADER + 'BRD-1\t5" "quoted, with comma\tNA\ttrt\tNA\n')
    assert read_layout(platemap, metadata)["Metadata_pert_iname"].to_list() == ['5" "quoted, with comma']


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("platemap.tsv", "well_position\tbroad_sample\nA01\tBRD-1\textra\n",
         "line 2 has 3 tab-separated fields, the header 2; remove the extra fields"),
        ("platemap.csv", "well_position,broad_sample\nA01,BRD-1,2\n",
         "line 2 has 3 comma-separated fields, the header 2"),
        ("platemap.csv", "well_position;broad_sample\nA01;BRD-1\n", "columns are separated by ';'"),
    ],
)
def test_ragged_rows_and_semicolons_are_one_line_naming_the_fix(tmp_path, name, text, expected):
    platemap = tmp_path / name
    platemap.write_text(text)
    metadata = tmp_path / "compound_metadata.tsv"
    metadata.write_text(_METADATA_HEADER + "BRD-1\tx\tNA\ttrt\tNA\n")
    with pytest.raises(LayoutError) as caught:
        read_layout(platemap, metadata)
    message = str(caught.value)
    assert message.startswith(f"{platemap}: ") and expected in message and "\n" not in message

"""Tests of plate layouts: the embedded JUMP-Target-1 map and the errors of broken files."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from morph_assets.lib.layout import (
    LAYOUT_COLUMNS,
    LayoutError,
    embedded_layout,
    embedded_layout_files,
    read_layout,
)
from morph_assets.lib.naming import WELLS_384


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


def test_embedded_layout_matches_raw_tsv(layout, raw):
    platemap_rows, metadata_rows = raw
    assert len(platemap_rows) == 384
    by_sample = {row["broad_sample"]: row for row in metadata_rows}
    by_well = {row["Metadata_Well"]: row for row in layout.iter_rows(named=True)}
    empty = 0
    for row in platemap_rows:
        got = by_well[row["well_position"]]
        sample = row["broad_sample"]
        if sample == "":
            empty += 1
            sample = "NA"  # DMSO's row in the metadata
            assert got["Metadata_broad_sample"] is None
        else:
            assert got["Metadata_broad_sample"] == sample
        meta = by_sample[sample]
        expected_targets = None if meta["target_list"] in ("", "NA") else meta["target_list"]
        assert got["Metadata_target_list"] == expected_targets, row["well_position"]
        assert got["Metadata_pert_type"] == meta["pert_type"]
        expected_control = "negcon" if sample == "NA" else (None if meta["control_type"] == "NA" else meta["control_type"])
        assert got["Metadata_control_type"] == expected_control
        assert got["Metadata_pert_iname"] == meta["pert_iname"]
        assert got["Metadata_InChIKey"] == meta["InChIKey"]
        assert got["Metadata_solvent"] == row["solvent"]
    assert empty == 64
    # Targets are |-separated gene symbols, never with stray whitespace.
    for targets in layout["Metadata_target_list"].drop_nulls():
        assert all(gene and gene == gene.strip() for gene in targets.split("|"))


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
    platemap.write_text("well\tbroad_sample\nA01\tBRD-1\n")
    with pytest.raises(LayoutError, match="well_position") as caught:
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

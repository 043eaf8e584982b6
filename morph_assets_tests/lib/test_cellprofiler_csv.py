"""Reading real CellProfiler ExportToSpreadsheet output (see data/cellprofiler/SOURCES.md)."""

from __future__ import annotations

import csv
import gzip
import math
from pathlib import Path

import polars as pl
import pytest

from morph_assets.lib.cellprofiler_csv import (
    mean_table_from_export,
    read_cellprofiler_csv,
    read_cellprofiler_export,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "cellprofiler"
FOLDERS = ["ExampleHuman", "cpg0043_BR00116991_A01_1"]


def _rows(path: Path) -> list[dict[str, str]]:
    with gzip.open(path, "rt", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("folder", FOLDERS)
def test_counts_match_image_csv(folder):
    image, tables = read_cellprofiler_export(DATA / folder)
    means = mean_table_from_export(DATA / folder)
    assert means["ImageNumber"].to_list() == sorted(image["ImageNumber"].to_list())
    for name, table in tables.items():
        assert table.schema["ImageNumber"] == pl.Int64 and table.schema["ObjectNumber"] == pl.Int64
        expected = image.sort("ImageNumber")[f"Count_{name}"].cast(pl.Int64).to_list()
        assert means[f"Count_{name}"].to_list() == expected


@pytest.mark.parametrize(
    ("folder", "obj", "column"),
    [
        ("ExampleHuman", "Nuclei", "AreaShape_Area"),
        ("ExampleHuman", "Cells", "Intensity_MeanIntensity_PH3"),
        ("ExampleHuman", "Cytoplasm", "AreaShape_FormFactor"),
        ("cpg0043_BR00116991_A01_1", "Nuclei", "Intensity_MeanIntensity_DNA"),
        ("cpg0043_BR00116991_A01_1", "Cells", "AreaShape_Area"),
        ("cpg0043_BR00116991_A01_1", "Cytoplasm", "Texture_Contrast_DNA_3_00_256"),
        ("cpg0043_BR00116991_A01_1", "Nuclei", "Granularity_1_DNA"),
    ],
)
def test_means_match_csv_module(folder, obj, column):
    rows = _rows(DATA / folder / f"{obj}.csv.gz")
    by_image: dict[int, list[float]] = {}
    for row in rows:
        value = float(row[column])
        if not math.isnan(value):
            by_image.setdefault(int(row["ImageNumber"]), []).append(value)
    means = mean_table_from_export(DATA / folder)
    for image_number, values in by_image.items():
        got = means.filter(pl.col("ImageNumber") == image_number)[f"Mean_{obj}_{column}"].item()
        assert got == pytest.approx(sum(values) / len(values), rel=1e-12)


def test_mean_columns_named_like_ours():
    means = mean_table_from_export(DATA / "cpg0043_BR00116991_A01_1")
    assert "Mean_Cells_AreaShape_Area" in means.columns
    assert "Mean_Nuclei_Intensity_MeanIntensity_DNA" in means.columns
    assert "Mean_Cytoplasm_Texture_Contrast_DNA_3_00_256" in means.columns
    assert not any(c.startswith(("Mean_Nuclei_Parent_", "Mean_Nuclei_Number_", "Mean_Cells_ObjectNumber")) for c in means.columns)


def test_two_row_header_and_plain_csv(tmp_path):
    text = "Image,Image,Nuclei,Nuclei\nImageNumber,ObjectNumber,AreaShape_Area,Label\n1,1,10,a\n1,2,nan,b\n"
    path = tmp_path / "Nuclei.csv"
    path.write_text(text)
    table = read_cellprofiler_csv(path)
    assert table.columns == ["ImageNumber", "ObjectNumber", "Nuclei_AreaShape_Area", "Nuclei_Label"]
    assert table.schema["Nuclei_AreaShape_Area"] == pl.Float64
    assert table.schema["Nuclei_Label"] == pl.String
    assert math.isnan(table["Nuclei_AreaShape_Area"][1])


def test_missing_files_and_image_without_objects(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_cellprofiler_export(tmp_path)
    (tmp_path / "Image.csv").write_text("ImageNumber,Count_Nuclei\n1,2\n2,0\n")
    (tmp_path / "Nuclei.csv").write_text("ImageNumber,ObjectNumber,AreaShape_Area\n1,1,4\n1,2,6\n")
    means = mean_table_from_export(tmp_path, objects=["Nuclei"])
    assert means["Count_Nuclei"].to_list() == [2, 0]
    assert means["Mean_Nuclei_AreaShape_Area"].to_list() == [5.0, None]


@pytest.mark.parametrize("folder", FOLDERS)
def test_metadata_stays_text_as_written_and_sites_are_integers(folder):
    written = _rows(DATA / folder / "Image.csv.gz")
    image, _ = read_cellprofiler_export(DATA / folder)
    means = mean_table_from_export(DATA / folder)
    metadata = [name for name in written[0] if name.startswith("Metadata_")]
    assert metadata and set(metadata) <= set(means.columns)
    for name in metadata:
        if name == "Metadata_Site":
            assert image.schema[name] == means.schema[name] == pl.Int32  # as Metadata_Site of the measured tables
            assert means[name].to_list() == [int(row[name]) for row in written]
        else:
            assert image.schema[name] == means.schema[name] == pl.String
            assert means[name].to_list() == [row[name] for row in written]  # the csv module's own text
    for prefix in ("FileName_", "MD5Digest_", "URL_"):
        assert all(image.schema[name] == pl.String for name in image.columns if name.startswith(prefix))


def test_barcodes_and_metadata_with_leading_zeros_keep_their_text(tmp_path):
    (tmp_path / "Image.csv").write_text(
        "ImageNumber,Metadata_Plate,Metadata_Well,Metadata_Site,Metadata_Compound,FileName_DNA,Count_Nuclei\n"
        "1,00123,A01,01,0042,0007,2\n"
        "2,00123,A01,2,0042,0008,0\n"
    )
    (tmp_path / "Nuclei.csv").write_text("ImageNumber,ObjectNumber,AreaShape_Area\n1,1,4\n1,2,7\n")
    means = mean_table_from_export(tmp_path, objects=["Nuclei"])
    assert means["Metadata_Plate"].to_list() == ["00123", "00123"]
    assert means["Metadata_Compound"].to_list() == ["0042", "0042"]
    assert means.schema["Metadata_Site"] == pl.Int32 and means["Metadata_Site"].to_list() == [1, 2]
    assert read_cellprofiler_csv(tmp_path / "Image.csv")["FileName_DNA"].to_list() == ["0007", "0008"]
    assert means["Count_Nuclei"].to_list() == [2, 0]
    assert means["Mean_Nuclei_AreaShape_Area"].to_list() == [5.5, None]


@pytest.mark.parametrize(
    ("header", "value", "named"),
    [("Metadata_Site", "f01", "Metadata_Site 'f01'"), ("Metadata_Site", "1.5", "Metadata_Site '1.5'"),
     ("ImageNumber", "2.5", "ImageNumber '2.5'")],
)
def test_a_site_or_key_that_is_not_a_whole_number_is_one_clear_error(tmp_path, header, value, named):
    columns = ["ImageNumber", "Metadata_Site"]
    row = {"ImageNumber": "2", "Metadata_Site": "3", header: value}
    path = tmp_path / "Image.csv"
    path.write_text(",".join(columns) + "\n1,1\n" + ",".join(row[c] for c in columns) + "\n")
    with pytest.raises(ValueError, match="not a whole number") as error:
        read_cellprofiler_csv(path)
    message = str(error.value)
    assert str(path) in message and named in message and "data row 2" in message and "\n" not in message

"""Reading real CellProfiler ExportToSpreadsheet output (see data/cellprofiler/SOURCES.md)."""

from __future__ import annotations

import csv
import gzip
import math
from pathlib import Path

import polars as pl
import pytest

from morph_assets.lib.features.cellprofiler import (
    export_well_table,
    has_export,
    mean_table_from_export,
    plate_well_rows,
    read_cellprofiler_csv,
    read_cellprofiler_export,
)

DATA = Path(__file__).resolve().parents[3] / "data" / "cellprofiler"
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


def _export(folder: Path, image: str, nuclei: str) -> Path:
    (folder / "Image.csv").write_text(image)
    (folder / "Nuclei.csv").write_text(nuclei)
    return folder


def test_a_batch_export_of_two_plates_gives_each_plate_only_its_own_images(tmp_path):
    export = _export(
        tmp_path,
        "ImageNumber,Metadata_Plate,Metadata_Well,Metadata_Site\n1,00123,A01,1\n2,123,A01,1\n3,00123,A1,2\n",
        "ImageNumber,ObjectNumber,AreaShape_Area\n1,1,4\n1,2,6\n2,1,100000\n3,1,10\n",
    )
    table = export_well_table(export, objects=["Nuclei"])
    rows = plate_well_rows(table, export, "00123", "A01")
    # by hand: plate "00123" (text, not the number 123) well A01 holds images 1 (areas 4, 6) and 3 (area 10)
    assert rows["ImageNumber"].to_list() == [1, 3]
    assert rows["Count_Nuclei"].to_list() == [2, 1]
    assert rows["Mean_Nuclei_AreaShape_Area"].to_list() == [5.0, 10.0]
    assert rows["Metadata_Plate"].to_list() == ["00123", "00123"]
    assert plate_well_rows(table, export, "123", "A01")["Mean_Nuclei_AreaShape_Area"].to_list() == [100000.0]
    with pytest.raises(ValueError, match=r"no row for plate 'BR9'.*\['00123', '123'\]") as error:
        plate_well_rows(table, export, "BR9", "A01")
    assert str(export / "Image.csv") in str(error.value) and "\n" not in str(error.value)


def test_an_export_without_plate_values_is_the_plate_s_own(tmp_path):
    export = _export(tmp_path, "ImageNumber,Metadata_Well\n1,B02\n", "ImageNumber,ObjectNumber,AreaShape_Area\n1,1,3\n")
    rows = plate_well_rows(export_well_table(export, objects=["Nuclei"]), export, "BR1", "B02")
    assert rows.select("Metadata_Plate", "Count_Nuclei").rows() == [("BR1", 1)]
    with pytest.raises(ValueError, match="no image of plate 'BR1' well B03"):
        plate_well_rows(export_well_table(export, objects=["Nuclei"]), export, "BR1", "B03")


@pytest.mark.parametrize(("written", "shown"), [("Z99", "'Z99'"), ("", "empty")])
def test_a_bad_well_in_an_export_is_one_line_naming_file_and_image(tmp_path, written, shown):
    export = _export(tmp_path, f"ImageNumber,Metadata_Well\n1,A01\n2,{written}\n", "ImageNumber,ObjectNumber\n1,1\n")
    with pytest.raises(ValueError, match=f"Metadata_Well is {shown} for ImageNumber 2") as error:
        export_well_table(export, objects=["Nuclei"])
    assert str(export / "Image.csv") in str(error.value) and "\n" not in str(error.value)


def test_repeated_image_numbers_are_refused_unless_plates_tell_them_apart(tmp_path):
    image = "ImageNumber,Metadata_Plate\n1,P1\n2,P1\n1,P2\n"
    export = _export(tmp_path, image, "ImageNumber,ObjectNumber,AreaShape_Area\n1,1,4\n2,1,6\n1,1,8\n")
    with pytest.raises(ValueError, match=r"ImageNumber 1 is on data rows \[1, 3\]") as error:
        mean_table_from_export(export, objects=["Nuclei"])
    assert str(export / "Image.csv") in str(error.value) and "\n" not in str(error.value)
    # the object rows carry their plate (ExportToSpreadsheet's image metadata in object files): unambiguous
    (tmp_path / "Nuclei.csv").write_text(
        "ImageNumber,ObjectNumber,Metadata_Plate,AreaShape_Area\n1,1,P1,4\n1,2,P1,2\n2,1,P1,6\n1,1,P2,8\n"
    )
    means = mean_table_from_export(export, objects=["Nuclei"])
    assert means.select("Metadata_Plate", "ImageNumber", "Count_Nuclei", "Mean_Nuclei_AreaShape_Area").rows() == [
        ("P1", 1, 2, 3.0), ("P1", 2, 1, 6.0), ("P2", 1, 1, 8.0),
    ]


def test_object_rows_of_an_image_missing_from_image_csv_are_refused(tmp_path):
    export = _export(tmp_path, "ImageNumber\n1\n", "ImageNumber,ObjectNumber,AreaShape_Area\n1,1,4\n7,1,5\n7,2,5\n")
    with pytest.raises(ValueError, match=r"2 object row\(s\) belong to no image of Image.csv \(e.g. ImageNumber 7\)"):
        mean_table_from_export(export, objects=["Nuclei"])


def test_null_tokens_keep_a_column_numeric_and_infinite_values_are_skipped(tmp_path):
    export = _export(
        tmp_path,
        "ImageNumber\n1\n",
        "ImageNumber,ObjectNumber,AreaShape_Area,Intensity_Ratio,Label\n"
        "1,1,4,inf,a\n1,2,n/a,2,b\n1,3,8,-inf,c\n1,4,NA,nan,d\n",
    )
    table = read_cellprofiler_csv(export / "Nuclei.csv")
    assert table.schema["AreaShape_Area"] == pl.Float64 and table.schema["Label"] == pl.String
    assert table["AreaShape_Area"].to_list()[1] is None
    means = mean_table_from_export(export, objects=["Nuclei"])
    assert means["Count_Nuclei"].to_list() == [4]
    assert means["Mean_Nuclei_AreaShape_Area"].to_list() == [6.0]  # (4 + 8) / 2
    assert means["Mean_Nuclei_Intensity_Ratio"].to_list() == [2.0]  # the only finite value
    assert "Mean_Nuclei_Label" not in means.columns


def test_a_byte_order_mark_does_not_hide_the_first_column(tmp_path):
    export = _export(
        tmp_path, "\ufeffImageNumber,Metadata_Well\n1,A01\n", "\ufeffImageNumber,ObjectNumber,AreaShape_Area\n1,1,4\n"
    )
    assert mean_table_from_export(export, objects=["Nuclei"])["Count_Nuclei"].to_list() == [1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ImageNumber;Metadata_Well\n1;A01\n", "separated by semicolons, not commas"),
        ("ImageNumber,Metadata_Well\n1,A01\n2,A01,extra\n", "data row 2 has 3 fields, the header 2"),
        ("ImageNumber,Metadata_Site\n1,99999999999\n", "Metadata_Site '99999999999' (data row 1) is out of range"),
        ("ImageNumber\n1e20\n", "ImageNumber '1e20' (data row 1) is out of range"),
        ("ImageNumber\n1\n\"\"\n", "ImageNumber is empty at data row 2"),
    ],
)
def test_malformed_tables_are_one_line_naming_file_and_row(tmp_path, text, expected):
    path = tmp_path / "Image.csv"
    path.write_text(text)
    with pytest.raises(ValueError) as error:
        read_cellprofiler_csv(path)
    message = str(error.value)
    assert expected in message and str(path) in message and "\n" not in message


def test_image_numbers_beyond_float_precision_stay_distinct(tmp_path):
    path = tmp_path / "Image.csv"
    path.write_text("ImageNumber\n9007199254740993\n9007199254740992\n")  # 2**53 + 1 and 2**53
    assert read_cellprofiler_csv(path)["ImageNumber"].to_list() == [2**53 + 1, 2**53]


def test_gzip_only_export_folders_are_recognised(tmp_path):
    assert has_export(DATA / "ExampleHuman")  # only Image.csv.gz there
    assert not has_export(tmp_path)

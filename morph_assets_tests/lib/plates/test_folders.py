"""Tests of plate folders: indexing, per-well problems, plate-level errors, completeness."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import polars as pl
import pytest
from morph_assets_tests.conftest import SMALL_WELLS

from morph_assets.lib.plates import (
    CHANNEL_NAMES,
    COMPLETION_MARKER,
    IMAGE_INDEX_SCHEMA,
    WELLS_384,
    PlateError,
    discover_plate_folders,
    format_image_name,
    is_plate_complete,
    read_plate,
)

PLATE = "SYNJT0001"
SITES = (1, 2)
CHANNELS = (1, 2, 3, 4, 5)


def _problems(index, well):
    return index.problems_by_well().get(well, [])


def test_read_generated_plate(pristine_source):
    folder = pristine_source / PLATE
    index = read_plate(folder)
    assert index.barcode == PLATE
    assert index.folder == folder
    assert index.problems == ()
    assert index.layout.height == 384
    assert sorted(index.layout["Metadata_Well"]) == sorted(WELLS_384)
    assert set(index.layout["Metadata_Plate"]) == {PLATE}
    assert index.layout.filter(pl.col("Metadata_control_type") == "negcon").height == 64
    assert dict(index.images.schema) == IMAGE_INDEX_SCHEMA
    assert index.images.height == len(SMALL_WELLS) * len(SITES) * len(CHANNELS)
    assert set(index.images["Metadata_Plate"]) == {PLATE}
    assert index.wells() == sorted(SMALL_WELLS)
    expected = {
        (well, site, channel, CHANNEL_NAMES[channel], str(folder / "Images" / format_image_name(well, site, channel)))
        for well in SMALL_WELLS
        for site in SITES
        for channel in CHANNELS
    }
    got = set(index.images.select("Metadata_Well", "Metadata_Site", "channel", "channel_name", "path").iter_rows())
    assert got == expected
    assert {name for _, _, _, name, _ in got} == {"Mito", "AGP", "RNA", "ER", "DNA"}
    well = index.well_images("A02")
    assert well.height == 10
    assert well.select("Metadata_Site", "channel").rows() == [(s, c) for s in SITES for c in CHANNELS]


def _check_other_wells_usable(index, bad_well):
    others = sorted(set(SMALL_WELLS) - {bad_well})
    assert index.wells() == others
    for well in others:
        assert index.well_images(well).height == len(SITES) * len(CHANNELS)
        assert not _problems(index, well)


def test_missing_channel_file(source_root):
    folder = source_root / PLATE
    missing = folder / "Images" / format_image_name("A03", 2, 4)
    missing.unlink()
    index = read_plate(folder)
    _check_other_wells_usable(index, "A03")
    [problem] = _problems(index, "A03")
    assert "site 2 is missing channel(s) ch4 (ER)" in problem.error
    assert Path(problem.file).parent == folder / "Images"
    assert Path(problem.file).name.startswith("r01c03f02")


def test_duplicate_file(source_root):
    folder = source_root / PLATE
    original = folder / "Images" / format_image_name("B01", 1, 2)
    duplicate = original.with_suffix(".tif")
    shutil.copyfile(original, duplicate)
    index = read_plate(folder)
    _check_other_wells_usable(index, "B01")
    [problem] = _problems(index, "B01")
    assert "site 1 channel 2 has 2 files" in problem.error
    assert str(original) in problem.error and str(duplicate) in problem.error
    assert problem.file in {str(original), str(duplicate)}


def _drop_one_line(path: Path, prefix: str) -> None:
    lines = path.read_text().splitlines(keepends=True)
    kept = [line for line in lines if not line.startswith(prefix)]
    assert len(kept) == len(lines) - 1
    path.write_text("".join(kept))


def test_well_not_in_platemap(source_root):
    folder = source_root / PLATE
    _drop_one_line(folder / "platemap.tsv", "A01\t")
    index = read_plate(folder)
    assert index.layout.height == 383
    _check_other_wells_usable(index, "A01")
    [problem] = _problems(index, "A01")
    assert problem.error == "well A01 is not in the platemap"
    assert Path(problem.file).name.startswith("r01c01")


def test_unparseable_tiff_name(source_root):
    folder = source_root / PLATE
    stray = folder / "Images" / "overview.tiff"
    shutil.copyfile(folder / "Images" / format_image_name("A01", 1, 1), stray)
    (folder / "Images" / "Index.idx.xml").write_text("<xml/>")  # side files are ignored
    index = read_plate(folder)
    assert index.wells() == sorted(SMALL_WELLS)
    assert index.images.height == 40
    [problem] = index.problems
    assert problem.well is None
    assert problem.file == str(stray)
    assert "does not follow the CPJUMP1 naming" in problem.error
    assert index.problems_by_well() == {None: [problem]}
    record = problem.as_record("raw_images", PLATE)
    assert record == {"table": "raw_images", "Metadata_Plate": PLATE, "Metadata_Well": None, "file": str(stray), "error": problem.error}


def test_other_planes_are_ignored(source_root):
    folder = source_root / PLATE
    source = folder / "Images" / format_image_name("A01", 1, 1)
    shutil.copyfile(source, folder / "Images" / format_image_name("A01", 1, 1, plane=2))
    index = read_plate(folder)
    assert index.problems == ()
    assert index.images.height == 40


@pytest.mark.parametrize("name", ["BAD|PLATE", "bad plate"])
def test_bad_barcode_folder(source_root, name):
    folder = source_root / name
    (source_root / PLATE).rename(folder)
    with pytest.raises(PlateError, match="is not allowed") as caught:
        read_plate(folder)
    assert str(folder) in str(caught.value)


def test_not_a_folder(tmp_path):
    with pytest.raises(PlateError, match="does not exist .* back at this path"):
        read_plate(tmp_path / "SYNJT9999")
    (tmp_path / "SYNJT9998").write_text("a file where the plate folder should be")
    with pytest.raises(PlateError, match="is not a folder"):
        read_plate(tmp_path / "SYNJT9998")


@pytest.mark.parametrize(("name", "what"), [("platemap.tsv", "platemap"), ("compound_metadata.tsv", "perturbation metadata")])
def test_missing_layout_file(source_root, name, what):
    folder = source_root / PLATE
    (folder / name).unlink()
    with pytest.raises(PlateError, match=f"no {what} file") as caught:
        read_plate(folder)
    assert str(folder) in str(caught.value)


def test_platemap_txt_is_accepted(source_root):
    folder = source_root / PLATE
    (folder / "platemap.tsv").rename(folder / "platemap.txt")
    assert read_plate(folder).images.height == 40


def test_broken_layout_is_plate_error(source_root):
    folder = source_root / PLATE
    with open(folder / "platemap.tsv", "a") as handle:
        handle.write("A01\tBRD-A86665761-001-01-1\tDMSO\n")
    with pytest.raises(PlateError, match=r"more than once: \['A01'\]") as caught:
        read_plate(folder)
    assert str(folder / "platemap.tsv") in str(caught.value)


def test_plate_json_barcode_mismatch(source_root):
    folder = source_root / PLATE
    info = json.loads((folder / "plate.json").read_text())
    info["barcode"] = "SYNJT0002"
    (folder / "plate.json").write_text(json.dumps(info))
    with pytest.raises(PlateError, match="'SYNJT0002' does not match the folder name 'SYNJT0001'") as caught:
        read_plate(folder)
    assert str(folder / "plate.json") in str(caught.value)


def test_plate_json_invalid(source_root):
    folder = source_root / PLATE
    (folder / "plate.json").write_text("{not json")
    with pytest.raises(PlateError, match="not valid JSON") as caught:
        read_plate(folder)
    assert str(folder / "plate.json") in str(caught.value)


def test_no_images_folder(source_root):
    folder = source_root / PLATE
    shutil.rmtree(folder / "Images")
    with pytest.raises(PlateError, match="no Images/ folder"):
        read_plate(folder)


def test_empty_images_folder(source_root):
    folder = source_root / PLATE
    shutil.rmtree(folder / "Images")
    (folder / "Images").mkdir()
    with pytest.raises(PlateError, match=r"no usable images found \(0 image files indexed, 0 problem\(s\)\)") as caught:
        read_plate(folder)
    assert str(folder) in str(caught.value)


def test_all_wells_bad_names_first_problem(source_root):
    folder = source_root / PLATE
    platemap = folder / "platemap.tsv"
    lines = platemap.read_text().splitlines(keepends=True)
    platemap.write_text("".join(line for line in lines if line[:3] not in SMALL_WELLS))
    with pytest.raises(PlateError, match="no usable images found .*first problem: well A01 is not in the platemap"):
        read_plate(folder)


def _write_load_data(folder: Path, *, path_style: str) -> Path:
    stains = [(channel, CHANNEL_NAMES[channel]) for channel in CHANNELS]
    header = ["Metadata_Plate", "Metadata_Well", "Metadata_Site"]
    for _, stain in stains:
        header += [f"FileName_Orig{stain}", f"PathName_Orig{stain}"]
    path = folder / "load_data.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for well in SMALL_WELLS:
            for site in SITES:
                row = [folder.name, well, str(site)]
                for channel, _ in stains:
                    directory = str(folder / "Images") if path_style == "absolute" else "Images"
                    row += [format_image_name(well, site, channel), directory]
                writer.writerow(row)
    return path


@pytest.mark.parametrize("path_style", ["absolute", "relative"])
def test_load_data_gives_same_index(source_root, path_style):
    folder = source_root / PLATE
    listed = read_plate(folder).images
    _write_load_data(folder, path_style=path_style)
    # A file that only LoadData ignores: if the listing were used, it would be a problem.
    shutil.copyfile(folder / "Images" / format_image_name("A01", 1, 1), folder / "Images" / "stray.tiff")
    index = read_plate(folder)
    assert index.problems == ()
    assert index.images.equals(listed)


def test_load_data_plate_mismatch(source_root):
    folder = source_root / PLATE
    path = _write_load_data(folder, path_style="relative")
    path.write_text(path.read_text().replace(f"\n{PLATE},A03", "\nOTHER,A03"))
    expected = (r"column Metadata_Plate holds \['OTHER'\] \(first at line 6\), which does not match the plate "
                r"folder name 'SYNJT0001'")
    with pytest.raises(PlateError, match=expected) as caught:
        read_plate(folder)
    assert str(path) in str(caught.value)


def test_load_data_unknown_stain_and_missing_columns(source_root):
    folder = source_root / PLATE
    path = folder / "load_data.csv"
    path.write_text("Metadata_Well,Metadata_Site,FileName_OrigFoo\nA01,1,x.tiff\n")
    with pytest.raises(PlateError, match=r"unknown stain\(s\) \['Foo'\]"):
        read_plate(folder)
    path.write_text("Metadata_Well,FileName_OrigDNA\nA01,x.tiff\n")
    with pytest.raises(PlateError, match="needs Metadata_Well, Metadata_Site"):
        read_plate(folder)


def test_load_data_bad_row_is_a_problem(source_root):
    folder = source_root / PLATE
    path = _write_load_data(folder, path_style="relative")
    with open(path, "a") as handle:
        handle.write(f"{PLATE},Z99,1" + ",x.tiff,Images" * len(CHANNELS) + "\n")
    index = read_plate(folder)
    assert index.wells() == sorted(SMALL_WELLS)
    [problem] = index.problems
    assert problem.well is None and problem.file == str(path)
    assert "Z99" in problem.error


def test_is_plate_complete(source_root):
    folder = source_root / PLATE
    assert (folder / COMPLETION_MARKER).exists()
    assert is_plate_complete(folder, quiet_seconds=1e9, now=0.0)
    (folder / COMPLETION_MARKER).unlink()
    stamp = 1_700_000_000.0
    for path in [folder, *folder.rglob("*")]:
        os.utime(path, (stamp, stamp))
    assert is_plate_complete(folder, quiet_seconds=60, now=stamp + 60)
    assert not is_plate_complete(folder, quiet_seconds=60, now=stamp + 59)
    # A file written later, deep in the folder, restarts the quiet period.
    os.utime(folder / "Images" / format_image_name("B01", 2, 5), (stamp + 100, stamp + 100))
    assert not is_plate_complete(folder, quiet_seconds=60, now=stamp + 120)
    assert is_plate_complete(folder, quiet_seconds=60, now=stamp + 160)
    # Default "now" is the real clock: files stamped in 2023 have long been quiet.
    assert is_plate_complete(folder, quiet_seconds=60)


def test_discover_plate_folders(tmp_path):
    for name in ["SYNJT0002", "SYNJT0001", ".hidden", "SYNJT0003.partial-abc123", "zeta"]:
        (tmp_path / name).mkdir()
    (tmp_path / "notes.txt").write_text("not a plate")
    assert discover_plate_folders(tmp_path) == [tmp_path / "SYNJT0001", tmp_path / "SYNJT0002", tmp_path / "zeta"]
    assert discover_plate_folders(tmp_path / "absent") == []


def test_platemap_and_metadata_as_csv_with_metadata_prefixes(source_root):
    folder = source_root / PLATE
    for name in ("platemap", "compound_metadata"):
        rows = list(csv.reader(open(folder / f"{name}.tsv", newline=""), delimiter="\t"))
        (folder / f"{name}.tsv").unlink()
        with open(folder / f"{name}.csv", "w", newline="") as handle:
            csv.writer(handle).writerows([[f"Metadata_{column}" for column in rows[0]], *rows[1:]])
    index = read_plate(folder)
    assert index.layout.height == 384
    assert index.layout.filter(pl.col("Metadata_control_type") == "negcon").height == 64  # 64 empty broad_samples
    assert index.images.height == 40


def test_two_platemaps_are_refused(source_root):
    folder = source_root / PLATE
    shutil.copyfile(folder / "platemap.tsv", folder / "platemap.csv")
    with pytest.raises(PlateError, match=r"2 platemap files \['platemap.tsv', 'platemap.csv'\]; keep one") as caught:
        read_plate(folder)
    assert str(caught.value).startswith(str(folder))


def test_missing_platemap_names_the_file_the_user_has(source_root):
    folder = source_root / PLATE
    (folder / "platemap.tsv").rename(folder / "JUMP-Target-1_compound_platemap.txt")
    with pytest.raises(PlateError, match=r"found \['JUMP-Target-1_compound_platemap.txt'\], rename it"):
        read_plate(folder)


def _renamed_plate(source_root: Path, barcode: str) -> Path:
    folder = source_root / barcode
    (source_root / PLATE).rename(folder)
    (folder / "plate.json").unlink()
    return folder


def test_load_data_identifiers_stay_text_and_sites_are_integers(source_root):
    folder = _renamed_plate(source_root, "00123")
    path = _write_load_data(folder, path_style="relative")
    lines = path.read_text().splitlines()
    # Sites as spreadsheets and pandas write them: zero-padded, or as 1.0 after a float round trip.
    lines = [lines[0]] + [line.replace(",1,", ",01,", 1) if i % 2 else line.replace(",2,", ",2.0,", 1)
                          for i, line in enumerate(lines[1:], start=1)]
    path.write_text("\n".join(lines) + "\n")
    index = read_plate(folder)
    assert index.problems == ()
    assert index.barcode == "00123"
    assert set(index.images["Metadata_Plate"]) == {"00123"} and set(index.layout["Metadata_Plate"]) == {"00123"}
    assert index.images.schema["Metadata_Site"] == pl.Int32 and index.layout.schema["Metadata_Plate"] == pl.String
    assert sorted(set(index.images["Metadata_Site"])) == [1, 2]


@pytest.mark.parametrize(("site", "fragment"), [("x", "'x' is not a site number"), ("1.5", "'1.5' is not a site"),
                                                ("0", "'0' is not a site"), ("", "the cell is empty"),
                                                ("99999999999", "'99999999999' is not a site number")])
def test_load_data_bad_site_names_line_column_value_and_fix(source_root, site, fragment):
    folder = source_root / PLATE
    path = _write_load_data(folder, path_style="relative")
    lines = path.read_text().splitlines()
    lines[1] = lines[1].replace(f"{PLATE},A01,1,", f"{PLATE},A01,{site},", 1)
    path.write_text("\n".join(lines) + "\n")
    index = read_plate(folder)
    assert "A01" not in index.wells()
    messages = [problem.error for problem in index.problems if problem.file == str(path)]
    assert f"line 2: column Metadata_Site: {fragment}" in messages[0] and "write 1, 2, ..." in messages[0]


def test_load_data_empty_file_name_skips_the_well(source_root):
    folder = source_root / PLATE
    path = _write_load_data(folder, path_style="relative")
    lines = path.read_text().splitlines()
    dna = format_image_name("A03", 1, 5)
    assert dna in lines[5]
    lines[5] = lines[5].replace(dna, "")
    path.write_text("\n".join(lines) + "\n")
    index = read_plate(folder)
    assert "A03" not in index.wells() and len(index.wells()) == 3
    errors = [problem.error for problem in _problems(index, "A03")]
    assert "line 6: column FileName_OrigDNA is empty" in errors


def test_readme_format_without_a_dmso_metadata_row(source_root):
    # README "Add a real plate": empty broad_sample = DMSO; compound_metadata.tsv need not list DMSO.
    folder = source_root / PLATE
    _drop_one_line(folder / "compound_metadata.tsv", "NA\t")
    layout = read_plate(folder).layout
    dmso = layout.filter(pl.col("Metadata_pert_iname") == "DMSO")
    assert dmso.height == 64  # the 64 empty broad_sample wells of JUMP-Target-1
    assert set(dmso["Metadata_control_type"]) == {"negcon"} and dmso["Metadata_broad_sample"].null_count() == 64
    assert layout.filter(pl.col("Metadata_Well") == "A02")["Metadata_pert_iname"].item() == "DMSO"


def test_load_data_with_an_empty_or_other_plate_names_the_line(source_root):
    folder = source_root / PLATE
    path = _write_load_data(folder, path_style="relative")
    lines = path.read_text().splitlines()
    lines[3] = lines[3].replace(f"{PLATE},", ",", 1)  # line 4: empty Metadata_Plate
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(PlateError) as caught:
        read_plate(folder)
    message = str(caught.value)
    assert message.startswith(f"{path}: column Metadata_Plate is empty at line 4") and "\n" not in message
    lines[5] = lines[5].replace(",", "ZZ,", 1)  # an other plate further down, with the empty cell still there
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(PlateError, match=r"column Metadata_Plate is empty at line 4"):
        read_plate(folder)
    lines[3] = lines[2]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(PlateError, match=rf"holds \['{PLATE}ZZ'\] \(first at line 6\)"):
        read_plate(folder)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda text: text.replace(",", ";"), "columns are separated by ';'"),
        (lambda text: text.replace("Images\n", "Images,extra\n", 1),
         "line 2 has 14 comma-separated fields, the header 13"),
    ],
    ids=["semicolons", "ragged"],
)
def test_load_data_that_cannot_be_read_is_one_line(source_root, edit, expected):
    folder = source_root / PLATE
    path = _write_load_data(folder, path_style="relative")
    path.write_text(edit(path.read_text().replace("\r\n", "\n")))
    with pytest.raises(PlateError) as caught:
        read_plate(folder)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and expected in message and "\n" not in message


def test_a_platemap_without_rows_says_so(source_root):
    folder = source_root / PLATE
    (folder / "platemap.tsv").write_text("well_position\tbroad_sample\n")
    with pytest.raises(PlateError, match=r"platemap.tsv: lists no wells; add one row per well"):
        read_plate(folder)


def test_a_load_data_csv_without_rows_says_so(source_root):
    folder = source_root / PLATE
    path = _write_load_data(folder, path_style="relative")
    path.write_text(path.read_text().splitlines()[0] + "\n")
    with pytest.raises(PlateError, match=r"load_data.csv: lists no images \(a header only\)"):
        read_plate(folder)

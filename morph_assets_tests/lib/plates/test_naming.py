"""Tests of well names, plate barcodes and CPJUMP1 image file names."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from morph_assets.lib.plates import (
    RESERVED_BARCODE_SUBSTRINGS,
    WELLS_384,
    ImageName,
    NamingError,
    format_image_name,
    normalize_well,
    parse_image_name,
    row_col_to_well,
    site_prefix,
    validate_barcode,
    well_to_row_col,
)

ROWS = "ABCDEFGHIJKLMNOP"


def test_wells_384_is_row_major_a01_to_p24():
    expected = [f"{row}{col:02d}" for row in ROWS for col in range(1, 25)]
    assert list(WELLS_384) == expected
    assert len(set(WELLS_384)) == 384


@pytest.mark.parametrize("site", [1, 2, 9, 99])
@pytest.mark.parametrize("channel", [1, 5, 8])
def test_format_parse_round_trip_every_well(site, channel):
    for index, well in enumerate(WELLS_384):
        name = format_image_name(well, site, channel)
        row, col = divmod(index, 24)
        assert name == f"r{row + 1:02d}c{col + 1:02d}f{site:02d}p01-ch{channel}sk1fk1fl1.tiff"
        assert parse_image_name(name) == ImageName(well=well, site=site, channel=channel, plane=1)
        assert ImageName(well, site, channel).filename() == name


@pytest.mark.parametrize(
    ("filename", "well", "site", "channel", "plane"),
    [
        ("r01c01f01p01-ch1sk1fk1fl1.tiff", "A01", 1, 1, 1),
        ("r16c24f09p01-ch8sk1fk1fl1.tiff", "P24", 9, 8, 1),
        ("r02c03f04p02-ch5sk1fk1fl1.tiff", "B03", 4, 5, 2),
        ("r02c03f04p01-ch5sk1fk1fl1.tif", "B03", 4, 5, 1),
        ("R02C03F04P01-CH5SK1FK1FL1.TIFF", "B03", 4, 5, 1),
    ],
)
def test_parse_known_names(filename, well, site, channel, plane):
    assert parse_image_name(filename) == ImageName(well, site, channel, plane)


def test_site_prefix():
    assert ImageName("P24", 9, 3).site_prefix() == "r16c24f09p01"


@pytest.mark.parametrize(
    ("path", "prefix"),
    [
        ("plate/Images/r16c24f09p01-ch3sk1fk1fl1.tiff", "r16c24f09p01"),
        (Path("r01c01f01p02-ch1sk1fk1fl1.tif"), "r01c01f01p02"),
        ("other/site7-DNA.tif", "site7"),  # a load_data.csv plate's own names: up to the first '-'
        ("D03f00d0.tif", "D03f00d0.tif"),
    ],
)
def test_site_prefix_of_a_file_name(path, prefix):
    assert site_prefix(path) == prefix


def test_the_prefix_of_every_channel_file_is_the_sites():
    name = ImageName("B07", 4, 5, plane=2)
    assert site_prefix(format_image_name(name.well, name.site, name.channel, name.plane)) == name.site_prefix()


@pytest.mark.parametrize(
    ("filename", "fragment"),
    [
        ("r17c01f01p01-ch1sk1fk1fl1.tiff", "row 17"),
        ("r00c01f01p01-ch1sk1fk1fl1.tiff", "row 0"),
        ("r01c25f01p01-ch1sk1fk1fl1.tiff", "column 25"),
        ("r01c01f00p01-ch1sk1fk1fl1.tiff", "start at 1"),
        ("r01c01f01p01-ch0sk1fk1fl1.tiff", "start at 1"),
        ("r01c01f01p00-ch1sk1fk1fl1.tiff", "start at 1"),
        ("r1c1f1p1-ch1sk1fk1fl1.tiff", "does not follow"),
        ("r01c01f01p01-ch1sk1fk1fl1.png", "does not follow"),
        ("Index.idx.xml", "does not follow"),
        ("", "does not follow"),
    ],
)
def test_parse_bad_names(filename, fragment):
    with pytest.raises(NamingError, match=re.escape(fragment)):
        parse_image_name(filename)


@pytest.mark.parametrize(
    ("given", "expected"),
    [("A1", "A01"), ("a01", "A01"), ("b7", "B07"), (" P24 ", "P24"), ("p24", "P24"), ("H12", "H12")],
)
def test_normalize_well(given, expected):
    assert normalize_well(given) == expected


@pytest.mark.parametrize("bad", ["Q01", "A00", "A25", "A100", "", "01A", "AA1", "A-1", "A 1"])
def test_normalize_well_rejects(bad):
    with pytest.raises(NamingError, match=r"384-well plate \(A01\.\.P24\)") as caught:
        normalize_well(bad)
    assert repr(bad) in str(caught.value)


def test_row_col_round_trip_every_well():
    for index, well in enumerate(WELLS_384):
        row, col = divmod(index, 24)
        assert well_to_row_col(well) == (row + 1, col + 1)
        assert row_col_to_well(row + 1, col + 1) == well


@pytest.mark.parametrize(("row", "col"), [(0, 1), (17, 1), (1, 0), (1, 25)])
def test_row_col_to_well_out_of_range(row, col):
    with pytest.raises(NamingError, match=f"row {row}, column {col} is outside"):
        row_col_to_well(row, col)


@pytest.mark.parametrize(
    ("label", "kwargs"), [("site", {"site": 0}), ("site", {"site": 100}), ("channel", {"channel": 0}), ("plane", {"plane": 100})]
)
def test_format_rejects_out_of_range_numbers(label, kwargs):
    arguments = {"well": "A01", "site": 1, "channel": 1, "plane": 1} | kwargs
    with pytest.raises(NamingError, match=f"^{label} .* must be between 1 and 99"):
        format_image_name(**arguments)


def test_format_rejects_bad_well():
    with pytest.raises(NamingError, match="Q01"):
        format_image_name("Q01", 1, 1)


@pytest.mark.parametrize("barcode", ["BR00116991", "SYNJT0001", "plate_1.a-b", "a", "00123", "BR..01", "1.5"])
def test_validate_barcode_accepts(barcode):
    # Barcodes are text: "00123" comes back as the same five characters, not the number 123.
    assert validate_barcode(barcode) == barcode


# Hand-written from Dagster 1.13's INVALID_PARTITION_SUBSTRINGS and the multi-partition key
# characters; morph_assets_tests/defs/test_partitions.py checks them against Dagster itself.
HAND_RESERVED = ["...", "\a", "\b", "\f", "\n", "\r", "\t", "\v", "\0", "|", ",", "[", "]"]


def test_reserved_substrings_are_the_hand_written_list():
    assert sorted(RESERVED_BARCODE_SUBSTRINGS) == sorted(HAND_RESERVED)


@pytest.mark.parametrize("reserved", HAND_RESERVED)
@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_validate_barcode_rejects_every_reserved_substring(reserved, where):
    barcode = {"start": f"{reserved}BR01", "middle": f"BR{reserved}01", "end": f"BR01{reserved}"}[where]
    with pytest.raises(NamingError) as caught:
        validate_barcode(barcode)
    message = str(caught.value)
    assert "\n" not in message  # one line, even for a barcode holding a newline
    assert repr(barcode) in message  # the barcode as written
    assert f"contains {reserved!r}" in message  # the offending substring
    assert "reserves in partition keys" in message
    # The fix: a rename that itself passes.
    suggested = ast.literal_eval(message.split("e.g. to ")[1].split(";")[0])
    assert validate_barcode(suggested) == suggested


def test_validate_barcode_br_dots_01_names_the_range_separator():
    with pytest.raises(NamingError, match=r"'BR\.\.\.01' is not allowed: it contains '\.\.\.'.*e\.g\. to 'BR_01'"):
        validate_barcode("BR...01")


@pytest.mark.parametrize("barcode", [".BR01", "BR01.", ".."])
def test_validate_barcode_rejects_edge_dots(barcode):
    with pytest.raises(NamingError, match="starts or ends with '\\.'") as caught:
        validate_barcode(barcode)
    assert repr(barcode) in str(caught.value) and "rename the plate folder" in str(caught.value)


@pytest.mark.parametrize(("barcode", "suggested"), [("-BR01", "BR01"), ("-", "PLATE1"), ("--x-1", "x-1"), ("-.a", "a")])
def test_validate_barcode_rejects_a_leading_dash(barcode, suggested):
    with pytest.raises(NamingError) as caught:
        validate_barcode(barcode)
    message = str(caught.value)
    assert message.startswith(f"plate barcode {barcode!r} is not allowed: it starts with '-'") and "\n" not in message
    assert f"e.g. to {suggested!r}" in message and validate_barcode(suggested) == suggested
    assert validate_barcode("BR-01-") == "BR-01-"  # a dash elsewhere is fine


@pytest.mark.parametrize("barcode", ["PL|9", "a b", "..", ".", "", "a,b", "a/b", "é1", None, 7])
def test_validate_barcode_rejects(barcode):
    with pytest.raises(NamingError) as caught:
        validate_barcode(barcode)
    message = str(caught.value)
    assert repr(barcode) in message
    assert "letters, digits" in message and "partition key" in message


def test_validate_barcode_rejects_trailing_newline():
    with pytest.raises(NamingError):
        validate_barcode("PLATE1\n")


@pytest.mark.parametrize("name", ["r01c01f01p01-ch1sk1fk1fl1.tiff\n", "r01c01f01p01-ch\u0661sk1fk1fl1.tiff"])
def test_parse_image_name_rejects_trailing_newline_and_non_ascii_digits(name):
    with pytest.raises(NamingError):
        parse_image_name(name)


def test_normalize_well_rejects_non_ascii_digits():
    with pytest.raises(NamingError):
        normalize_well("A\u0661")

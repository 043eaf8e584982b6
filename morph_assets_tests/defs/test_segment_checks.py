"""The segment stage's asset checks on hand-made masks indexes."""

import polars as pl

from morph_assets.defs.segment.checks import MAX_EMPTY_SITE_FRACTION, objects_per_site_result


def _index(plate: str, cells_by_well: dict[str, list[int]]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"Metadata_Plate": plate, "Metadata_Well": well, "Metadata_Site": site, "Count_Cells": cells}
         for well, counts in cells_by_well.items() for site, cells in enumerate(counts, start=1)],
        schema={"Metadata_Plate": pl.String, "Metadata_Well": pl.String, "Metadata_Site": pl.Int32, "Count_Cells": pl.Int32},
    )


def test_cell_less_wells_pass_and_are_listed():
    # 3 of 8 sites empty: a cell-less well (A02, a toxic compound) and one empty site of A01
    table = _index("P1", {"A01": [12, 0], "A02": [0, 0], "A03": [9, 7], "B01": [5, 6]})
    result = objects_per_site_result(table)
    assert result.passed
    assert result.metadata["worst_empty_site_fraction"].value == 3 / 8
    assert result.metadata["n_cell_less_wells"].value == 1
    assert "| A02 " in result.metadata["per_plate"].value


def test_each_plate_is_judged_on_its_own_sites():
    # Pooled, 9 of 18 sites are empty (exactly the limit); on its own, P2 has 7 of 10 empty.
    assert MAX_EMPTY_SITE_FRACTION == 0.5
    good = _index("P1", {"A01": [10, 11], "A02": [9, 8], "A03": [12, 7], "A04": [0, 0]})
    bad = _index("P2", {"A01": [0, 0], "A02": [0, 0], "A03": [0, 4], "A04": [5, 0], "A05": [3, 0]})
    result = objects_per_site_result(pl.concat([good, bad]))
    assert not result.passed
    assert result.description.startswith("plate P2: segmentation found no cell in 7 of 10 sites (70%")
    assert "P1" not in result.description and "\n" not in result.description


def test_nothing_segmented_fails():
    result = objects_per_site_result(_index("P1", {}))
    assert not result.passed and "no site was segmented" in result.description

"""Tests of running a function over wells in a process pool."""

from __future__ import annotations

import os

import pytest

from morph_assets.lib.plates import ImageReadError
from morph_assets.lib.tasks import WellOutcome, default_workers, map_wells

WELLS = ["A01", "A02", "A03", "B01", "B02", "C07"]


def count_rows(well: str, rows: int, fail: bool) -> int:
    """A module-level per-well function (importable by spawned workers)."""
    if fail == "image":
        raise ImageReadError(f"/images/{well}.tiff", "truncated")
    if fail:
        raise RuntimeError(f"well {well} broke")
    return rows


def _arguments(well: str) -> tuple:
    fail = {"A03": "image", "B02": True}.get(well, False)
    return (len(well) + int(well[1:]), fail)


@pytest.mark.parametrize("workers", [1, 2])
def test_map_wells(workers):
    calls = []
    outcomes = map_wells(count_rows, WELLS, _arguments, workers=workers, progress=lambda *a: calls.append(a))
    assert [outcome.well for outcome in outcomes] == WELLS
    for outcome in outcomes:
        assert isinstance(outcome, WellOutcome)
        assert outcome.seconds >= 0
    by_well = {outcome.well: outcome for outcome in outcomes}
    for well in ("A01", "A02", "B01", "C07"):
        assert by_well[well].ok and by_well[well].error is None and by_well[well].file is None
        assert by_well[well].rows == 3 + int(well[1:])
    image = by_well["A03"]
    assert not image.ok and image.rows == 0
    assert image.error == "ImageReadError: /images/A03.tiff: truncated"
    assert image.file == "/images/A03.tiff"
    other = by_well["B02"]
    assert other.error == "RuntimeError: well B02 broke" and other.file is None and other.rows == 0
    # progress(done, total, outcome): once per well, done counting up to total.
    assert [done for done, _, _ in calls] == list(range(1, len(WELLS) + 1))
    assert {total for _, total, _ in calls} == {len(WELLS)}
    assert sorted(outcome.well for _, _, outcome in calls) == sorted(WELLS)


def test_map_wells_more_wells_than_in_flight():
    wells = [f"A{col:02d}" for col in range(1, 13)]  # more than 4 x workers in flight
    outcomes = map_wells(count_rows, wells, lambda well: (int(well[1:]), False), workers=2)
    assert [(o.well, o.rows) for o in outcomes] == [(well, int(well[1:])) for well in wells]


def test_map_wells_empty_and_single():
    assert map_wells(count_rows, [], _arguments, workers=2) == []
    [outcome] = map_wells(count_rows, ["A01"], _arguments, workers=4)
    assert outcome.rows == 4 and outcome.ok


def test_default_workers():
    assert default_workers() == len(os.sched_getaffinity(0))


def test_pools_leave_no_worker_processes_behind():
    # A Dagster step process must be able to exit once its step is done: no lingering workers.
    import multiprocessing

    from morph_assets.lib.tasks import shared_worker_pool

    wells = ["A01", "A02", "A03"]
    map_wells(count_rows, wells, lambda well: (1, False), workers=2)
    assert multiprocessing.active_children() == []
    with shared_worker_pool():
        map_wells(count_rows, wells, lambda well: (1, False), workers=2)
        assert len(multiprocessing.active_children()) == 2  # kept warm for the next step
        map_wells(count_rows, wells, lambda well: (1, False), workers=2)
    assert multiprocessing.active_children() == []


def breaks_over_lines(well: str) -> int:
    raise ValueError(f"well {well}:\n  the reason\tgoes on")


def test_a_failure_is_one_line_with_its_traceback_kept():
    [outcome] = map_wells(breaks_over_lines, ["A01"], lambda well: (), workers=1)
    assert outcome.error == "ValueError: well A01: the reason goes on"
    # The full traceback, for the run log in the UI: it names the function that raised.
    assert outcome.traceback.startswith("Traceback") and "breaks_over_lines" in outcome.traceback

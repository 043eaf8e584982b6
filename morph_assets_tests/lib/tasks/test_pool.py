"""Tests of running one task per well in a worker pool."""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass

import pytest

from morph_assets.lib.plates import ImageReadError
from morph_assets.lib.tasks import WellOutcome, WellTask, WorkerPool, default_workers, map_wells

WELLS = ["A01", "A02", "A03", "B01", "B02", "C07"]


@dataclass(frozen=True, kw_only=True)
class CountTask(WellTask):
    """A task of the tests: how many rows to report, or how to fail."""

    rows: int = 0
    fail: bool | str = False


def count_rows(task: CountTask) -> int:
    """A module-level per-well function (importable by spawned workers)."""
    if task.fail == "image":
        raise ImageReadError(f"/images/{task.well}.tiff", "truncated")
    if task.fail:
        raise RuntimeError(f"well {task.well} broke")
    return task.rows


def _task(well: str, rows: int | None = None, fail: bool | str | None = None) -> CountTask:
    return CountTask(
        well=well, lake_root="/nowhere", plate="PLATE1", image_rows=[],
        rows=len(well) + int(well[1:]) if rows is None else rows,
        fail={"A03": "image", "B02": True}.get(well, False) if fail is None else fail,
    )


@pytest.mark.parametrize("workers", [1, 2])
def test_map_wells(workers):
    calls = []
    with WorkerPool(workers) as pool:
        outcomes = map_wells(count_rows, [_task(well) for well in WELLS], pool, progress=lambda *a: calls.append(a))
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
    with WorkerPool(2) as pool:
        outcomes = map_wells(count_rows, [_task(well, rows=int(well[1:]), fail=False) for well in wells], pool)
    assert [(o.well, o.rows) for o in outcomes] == [(well, int(well[1:])) for well in wells]


def test_map_wells_empty_and_single():
    with WorkerPool(4) as pool:
        assert map_wells(count_rows, [], pool) == []
        [outcome] = map_wells(count_rows, [_task("A01")], pool)
        assert multiprocessing.active_children() == []  # one well runs here: no process started for it
    assert outcome.rows == 4 and outcome.ok


def test_default_workers():
    assert default_workers() == len(os.sched_getaffinity(0))
    assert WorkerPool().workers == default_workers()
    assert WorkerPool(0).workers == 1


def test_a_pool_keeps_its_workers_until_closed():
    # Warm between calls (the command line's runs share one), gone when the block ends (a Dagster
    # step process must be able to exit once its step is done).
    tasks = [_task(well, rows=1, fail=False) for well in ("A01", "A02", "A03")]
    with WorkerPool(2) as pool:
        map_wells(count_rows, tasks, pool)
        assert len(multiprocessing.active_children()) == 2
        assert [o.rows for o in map_wells(count_rows, tasks, pool)] == [1, 1, 1]
    assert multiprocessing.active_children() == []
    # A closed pool starts afresh when used again.
    assert [o.rows for o in map_wells(count_rows, tasks, pool)] == [1, 1, 1]
    pool.close()
    assert multiprocessing.active_children() == []


def breaks_over_lines(task: WellTask) -> int:
    raise ValueError(f"well {task.well}:\n  the reason\tgoes on")


def test_a_failure_is_one_line_with_its_traceback_kept():
    [outcome] = map_wells(breaks_over_lines, [_task("A01")], WorkerPool(1))
    assert outcome.error == "ValueError: well A01: the reason goes on"
    # The full traceback, for the run log in the UI: it names the function that raised.
    assert outcome.traceback.startswith("Traceback") and "breaks_over_lines" in outcome.traceback

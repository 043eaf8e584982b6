"""Running one function over the wells of a plate in a process pool, one failure at a time.

Dagster runs one plate per run (one run per well would cost minutes of overhead per plate);
inside the run, wells are independent, so they go through a pool sized to the machine. A well
that raises is reported in its :class:`WellOutcome` and the other wells go on.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class WellOutcome:
    """What happened to one well.

    Attributes
    ----------
    well : str
        The well name.
    rows : int
        Rows written for the well (0 when it failed).
    error : str or None
        The failure on one line, ``"<ExceptionType>: <message>"`` (the message names the file
        when the code that raised knew it); None on success.
    file : str or None
        The file that caused the failure, when the exception carries it (a ``path`` attribute).
    seconds : float
        Wall time spent on the well.
    traceback : str or None
        The full Python traceback of the failure, for the Dagster run log; None on success.
    """

    well: str
    rows: int = 0
    error: str | None = None
    file: str | None = None
    seconds: float = 0.0
    traceback: str | None = None

    @property
    def ok(self) -> bool:
        """True when the well succeeded."""
        return self.error is None


def default_workers() -> int:
    """Return the number of worker processes to use: the CPUs this process may run on.

    Returns
    -------
    int
        At least 1.
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def one_line(text: str) -> str:
    """Collapse ``text`` onto one line (runs of whitespace, newlines included, become one space).

    Failure reasons go into one row of the lake's ``errors`` tables and one line of the terminal.

    Parameters
    ----------
    text : str
        Any text, e.g. an exception's message.

    Returns
    -------
    str
        The text on one line.
    """
    return " ".join(str(text).split())


def _run_one(function: Callable[..., int], well: str, arguments: tuple[Any, ...]) -> WellOutcome:
    started = time.perf_counter()
    try:
        rows = function(well, *arguments)
    except Exception as error:  # noqa: BLE001 - every failure becomes a per-well report
        path = getattr(error, "path", None)
        return WellOutcome(
            well=well, error=one_line(f"{type(error).__name__}: {error}"), file=None if path is None else str(path),
            seconds=time.perf_counter() - started, traceback=traceback.format_exc(),
        )
    return WellOutcome(well=well, rows=int(rows), seconds=time.perf_counter() - started)


def map_wells(
    function: Callable[..., int],
    wells: Sequence[str],
    arguments: Callable[[str], tuple[Any, ...]],
    *,
    workers: int | None = None,
    progress: Callable[[int, int, WellOutcome], None] | None = None,
) -> list[WellOutcome]:
    """Call ``function(well, *arguments(well))`` for every well, in parallel, catching failures.

    Parameters
    ----------
    function : callable
        A module-level function (so that it can be sent to worker processes) that processes one
        well and returns the number of rows it wrote.
    wells : sequence of str
        The wells to process.
    arguments : callable
        Builds the extra positional arguments of one well (computed in the parent process).
    workers : int, optional
        Number of processes; ``1`` runs in this process (easier to debug and profile).
        Defaults to :func:`default_workers`.
    progress : callable, optional
        Called as ``progress(done, total, outcome)`` after each well.

    Returns
    -------
    list of WellOutcome
        One outcome per well, in the order of ``wells``.
    """
    workers = default_workers() if workers is None else max(1, workers)
    total = len(wells)
    outcomes: dict[str, WellOutcome] = {}
    if workers == 1 or total <= 1:
        for well in wells:
            outcomes[well] = _run_one(function, well, arguments(well))
            if progress is not None:
                progress(len(outcomes), total, outcomes[well])
        return [outcomes[well] for well in wells]

    if _REUSE_POOL:
        return _run_in_pool(_shared_pool(workers), function, wells, arguments, workers, progress)
    # "spawn": the parent may hold threads (Dagster's event machinery) that fork would copy.
    with ProcessPoolExecutor(max_workers=min(workers, total), mp_context=multiprocessing.get_context("spawn")) as pool:
        return _run_in_pool(pool, function, wells, arguments, workers, progress)


def _run_in_pool(
    pool: ProcessPoolExecutor,
    function: Callable[..., int],
    wells: Sequence[str],
    arguments: Callable[[str], tuple[Any, ...]],
    workers: int,
    progress: Callable[[int, int, WellOutcome], None] | None,
) -> list[WellOutcome]:
    total = len(wells)
    outcomes: dict[str, WellOutcome] = {}
    try:
        pending: set[Future] = set()
        well_of: dict[Future, str] = {}
        queue = iter(wells)
        # Keep a bounded number of wells in flight so large plates do not pickle every task up front.
        for well in queue:
            future = pool.submit(_run_one, function, well, arguments(well))
            pending.add(future)
            well_of[future] = well
            if len(pending) >= 4 * workers:
                break
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                outcome = future.result()
                outcomes[well_of.pop(future)] = outcome
                if progress is not None:
                    progress(len(outcomes), total, outcome)
                next_well = next(queue, None)
                if next_well is not None:
                    new_future = pool.submit(_run_one, function, next_well, arguments(next_well))
                    pending.add(new_future)
                    well_of[new_future] = next_well
    except BrokenProcessPool:
        _discard_pool()  # a worker died (out of memory, a crash in native code): start afresh next time
        raise
    return [outcomes[well] for well in wells]


@contextmanager
def shared_worker_pool() -> Iterator[None]:
    """Within this block, :func:`map_wells` keeps one worker pool alive across calls.

    For a caller that runs several per-well steps in one process (the command line's in-process
    runs): spawning workers costs seconds each time (numpy, polars, scikit-image, numba kernels).
    Outside it every call gets its own pool, closed when the call ends, so a Dagster step process
    exits as soon as its step is done.
    """
    global _REUSE_POOL
    _REUSE_POOL = True
    try:
        yield
    finally:
        _REUSE_POOL = False
        _discard_pool()


_REUSE_POOL = False
_POOL: ProcessPoolExecutor | None = None
_POOL_WORKERS = 0


def _shared_pool(workers: int) -> ProcessPoolExecutor:
    """The pool kept alive inside :func:`shared_worker_pool`."""
    global _POOL, _POOL_WORKERS
    if _POOL is None or _POOL_WORKERS != workers:
        _discard_pool()
        # "spawn": the parent may hold threads (Dagster's event machinery) that fork would copy.
        _POOL = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
        _POOL_WORKERS = workers
    return _POOL


def _discard_pool() -> None:
    global _POOL, _POOL_WORKERS
    if _POOL is not None:
        _POOL.shutdown(wait=True, cancel_futures=True)
    _POOL, _POOL_WORKERS = None, 0


atexit.register(_discard_pool)

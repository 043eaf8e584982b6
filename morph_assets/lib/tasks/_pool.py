"""Running one task per well of a plate in a worker pool, one failure at a time.

Dagster runs one plate per run (one run per well would cost minutes of overhead per plate);
inside the run, wells are independent, so they go through a pool sized to the machine. A well
that raises is reported in its :class:`WellOutcome` and the other wells go on.

The pool is an object its caller owns (:class:`WorkerPool`), not a module global: a Dagster
resource opens one per run or step and closes it at the end, so a step process exits as soon as
its step is done; the command line opens one for all its in-process runs, so workers that cost
seconds to start (numpy, polars, scikit-image, numba kernels) are started once.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from types import TracebackType
from typing import TypeVar

from morph_assets.lib.tasks._task import WellTask

Task = TypeVar("Task", bound=WellTask)


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


class WorkerPool:
    """Worker processes for per-well tasks, started on first use and kept until :meth:`close`.

    Use it as a context manager so its processes end with the block. A pool of one worker runs
    every task in the calling process (easier to debug and profile) and starts no process.

    Parameters
    ----------
    workers : int, optional
        Number of worker processes; defaults to :func:`default_workers`.
    """

    def __init__(self, workers: int | None = None) -> None:
        self.workers = default_workers() if workers is None else max(1, workers)
        self._executor: ProcessPoolExecutor | None = None

    def executor(self) -> ProcessPoolExecutor:
        """Return the process pool, starting it on first use.

        Returns
        -------
        concurrent.futures.ProcessPoolExecutor
            ``workers`` processes at most; "spawn" ones, since the parent may hold threads
            (Dagster's event machinery) that fork would copy. Processes start as tasks arrive.
        """
        if self._executor is None:
            self._executor = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"))
        return self._executor

    def close(self) -> None:
        """Stop the worker processes (waiting for them); the next use starts new ones."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
        self._executor = None

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"WorkerPool(workers={self.workers}, started={self._executor is not None})"


def _run_one(function: Callable[[Task], int], task: Task) -> WellOutcome:
    started = time.perf_counter()
    try:
        rows = function(task)
    except Exception as error:  # noqa: BLE001 - every failure becomes a per-well report
        path = getattr(error, "path", None)
        return WellOutcome(
            well=task.well, error=one_line(f"{type(error).__name__}: {error}"), file=None if path is None else str(path),
            seconds=time.perf_counter() - started, traceback=traceback.format_exc(),
        )
    return WellOutcome(well=task.well, rows=int(rows), seconds=time.perf_counter() - started)


def map_wells(
    function: Callable[[Task], int],
    tasks: Sequence[Task],
    pool: WorkerPool,
    *,
    progress: Callable[[int, int, WellOutcome], None] | None = None,
) -> list[WellOutcome]:
    """Call ``function(task)`` for every well's task, in ``pool``'s processes, catching failures.

    Parameters
    ----------
    function : callable
        A module-level function (so that it can be sent to worker processes) that does one
        well's task and returns the number of rows it wrote.
    tasks : sequence of WellTask
        One task per well, wells distinct.
    pool : WorkerPool
        The workers; with one worker, or one task, the tasks run in this process.
    progress : callable, optional
        Called as ``progress(done, total, outcome)`` after each well.

    Returns
    -------
    list of WellOutcome
        One outcome per task, in the order of ``tasks``.

    Raises
    ------
    concurrent.futures.process.BrokenProcessPool
        When a worker died (out of memory, a crash in native code); the pool is closed first,
        so its next use starts afresh.
    """
    total = len(tasks)
    outcomes: dict[str, WellOutcome] = {}

    def record(outcome: WellOutcome) -> None:
        outcomes[outcome.well] = outcome
        if progress is not None:
            progress(len(outcomes), total, outcome)

    if pool.workers == 1 or total <= 1:
        for task in tasks:
            record(_run_one(function, task))
        return [outcomes[task.well] for task in tasks]

    executor = pool.executor()
    try:
        queue = iter(tasks)
        # Keep a bounded number of wells in flight so large plates do not pickle every task up
        # front (zip takes from the range first: no task is drawn and dropped).
        pending: set[Future] = {executor.submit(_run_one, function, task) for _, task in zip(range(4 * pool.workers), queue)}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                record(future.result())
                following = next(queue, None)
                if following is not None:
                    pending.add(executor.submit(_run_one, function, following))
    except BrokenProcessPool:
        pool.close()
        raise
    return [outcomes[task.well] for task in tasks]

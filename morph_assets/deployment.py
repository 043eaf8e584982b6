"""What a service deployment plugs into Dagster beyond the laptop (``deploy/dagster.yaml``).

- :class:`PlateQueuedRunCoordinator`: the queued run coordinator, plus a ``morph_assets/plate``
  tag on every run of one plate, so that ``concurrency > runs > tag_concurrency_limits`` can keep
  one run per plate at a time whoever created the run (new-plate sensor, automation sensor,
  schedule, backfill, Launchpad, retry).
- :class:`morph_assets.celery_launcher.WorkerCheckingCeleryRunLauncher` (its own module, as it
  needs ``dagster_celery``): runs as Celery tasks on any worker machine, and a run whose worker
  died (``kill -9``, power loss) is reported failed by run monitoring.
- :func:`select_executor`: the laptop's in-process executor, or the Celery executor when
  ``MORPH_ASSETS_EXECUTOR=celery``.

``dagster_celery`` is imported only when the Celery executor is chosen, so the laptop install does
not need it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import dagster as dg
from dagster._core.run_coordinator.base import SubmitRunContext
from dagster._core.run_coordinator.queued_run_coordinator import QueuedRunCoordinator

#: Run tag whose value is the run's plate barcode (absent on study runs, which span plates).
PLATE_TAG = "morph_assets/plate"

#: Environment variable that selects the executor of every job (``celery`` or unset).
EXECUTOR_ENV = "MORPH_ASSETS_EXECUTOR"

# Where Dagster records a run's partition: a plate-level run's plate, a single plate x well
# partition, a multi-partition dimension, or the first key of a single-run range.
_PARTITION_TAGS = (
    "dagster/partition/plate",
    "dagster/partition",
    "dagster/asset_partition_range_start",
)


def plate_of_run_tags(tags: Mapping[str, str]) -> str | None:
    """The plate a run works on, from its partition tags; None for a run over all plates.

    Multi-partition keys read ``"<plate>|<well>"`` (dimensions sort by name and barcodes cannot
    hold ``|``), so the plate is the part before the first ``|``.

    Examples
    --------
    >>> plate_of_run_tags({"dagster/asset_partition_range_start": "P1|A01"})
    'P1'
    >>> plate_of_run_tags({}) is None
    True
    """
    if tags.get(PLATE_TAG):
        return tags[PLATE_TAG]
    for key in _PARTITION_TAGS:
        value = tags.get(key)
        if value:
            return value.split("|", 1)[0]
    return None


class PlateQueuedRunCoordinator(QueuedRunCoordinator):
    """The queued run coordinator that first tags each run with its plate (:data:`PLATE_TAG`).

    The automation sensor creates the per-well range runs with only the range tags, whose
    values name a well as well as the plate; a tag limit needs one value per plate. Tagging
    here, where every run passes before it is queued, covers every route that creates runs.
    """

    def tag_plate(self, run: dg.DagsterRun) -> dg.DagsterRun:
        """Add :data:`PLATE_TAG` to a run of one plate (stored), and return the run as stored."""
        plate = plate_of_run_tags(run.tags)
        if plate is None or run.tags.get(PLATE_TAG) == plate:
            return run
        self._instance.add_run_tags(run.run_id, {PLATE_TAG: plate})
        return self._instance.get_run_by_id(run.run_id) or run

    def submit_run(self, context: SubmitRunContext) -> dg.DagsterRun:
        return super().submit_run(SubmitRunContext(self.tag_plate(context.dagster_run), context.workspace))


def select_executor(environ: Mapping[str, str] | None = None) -> dg.ExecutorDefinition:
    """The executor of every job: in-process, or Celery when ``MORPH_ASSETS_EXECUTOR=celery``.

    The Celery executor sends each step to the broker ``MORPH_ASSETS_CELERY_BROKER`` (default
    ``redis://127.0.0.1:6379/0``), results to ``MORPH_ASSETS_CELERY_BACKEND`` (default the same
    Redis, database 1).

    Raises
    ------
    ValueError
        If the variable names another executor.
    """
    environ = os.environ if environ is None else environ
    choice = environ.get(EXECUTOR_ENV, "").strip().lower()
    if choice in ("", "in_process"):
        return dg.in_process_executor
    if choice != "celery":
        raise ValueError(f"{EXECUTOR_ENV}={choice!r}: expected 'celery' or 'in_process' (or unset)")
    from dagster_celery import celery_executor

    return celery_executor.configured({
        "broker": environ.get("MORPH_ASSETS_CELERY_BROKER", "redis://127.0.0.1:6379/0"),
        "backend": environ.get("MORPH_ASSETS_CELERY_BACKEND", "redis://127.0.0.1:6379/1"),
    }, name="celery")

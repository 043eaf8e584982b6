"""The Celery run launcher of ``deploy/dagster.yaml``, with a health check that notices dead workers.

Its own module because it imports ``dagster_celery``, which only a service deployment installs.
"""

from __future__ import annotations

import dagster as dg
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster_celery.launcher import CeleryRunLauncher
from dagster_celery.tags import DAGSTER_CELERY_TASK_ID_TAG


class WorkerCheckingCeleryRunLauncher(CeleryRunLauncher):
    """Dagster's Celery run launcher, whose health check also asks the run's worker.

    Celery records a task as ``STARTED`` (``task_track_started``) and never changes it when the
    worker dies without a word (``kill -9``, a lost machine), so the stock check would report the
    run healthy forever. Here a started task's worker (its hostname, recorded with the state)
    must answer a ping; when it does not, the run worker counts as failed, run monitoring fails
    the run and run retries launch it again on a live worker.
    """

    #: Seconds to wait for the worker's reply; a prefork worker answers while its child works.
    ping_timeout = 5.0

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        task_id = run.tags.get(DAGSTER_CELERY_TASK_ID_TAG)
        if task_id is None:
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, "the run has no Celery task yet")
        result = self.celery.AsyncResult(task_id)
        state = result.state
        if state == "SUCCESS":
            return CheckRunHealthResult(WorkerStatus.SUCCESS)
        if state == "FAILURE":
            return CheckRunHealthResult(WorkerStatus.FAILED, f"Celery task {task_id} failed")
        if state != "STARTED":
            # PENDING: still in the broker, no worker has taken it yet (not a failure).
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, f"Celery task {task_id} is {state}")
        info = result.info if isinstance(result.info, dict) else {}
        hostname = info.get("hostname")
        if not hostname:
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        replies = self.celery.control.ping(destination=[hostname], timeout=self.ping_timeout) or []
        if any(hostname in reply for reply in replies):
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return CheckRunHealthResult(WorkerStatus.FAILED,
                                    f"Celery worker {hostname} of task {task_id} does not answer (died)")

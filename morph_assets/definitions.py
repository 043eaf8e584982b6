"""The Dagster code location: every stage's definitions, the automation sensor and the shared resources."""

import dagster as dg

from morph_assets.defs import clusters, features, ingest, models, profiles, report, segment, sql
from morph_assets.defs.automation import automation_sensor
from morph_assets.deployment import select_executor
from morph_assets.lib.tasks import WorkerPool
from morph_assets.resources import LakeResource, worker_pool_resource


def build_definitions(lake_resource: LakeResource | None = None, worker_pool: WorkerPool | None = None) -> dg.Definitions:
    """All stages with one lake resource (tests pass one pointing at a temporary lake).

    ``worker_pool``, when given, serves every run in place of the ``worker_pool`` resource's
    pool of its own: the command line passes one so that its in-process runs share warm
    workers (Dagster refuses a resource swapped in at ``execute_in_process`` for one the assets
    were bound to, so the swap happens here).
    """
    return dg.Definitions.merge(
        ingest.defs,
        segment.defs,
        features.defs,
        profiles.defs,
        models.defs,
        clusters.defs,
        report.defs,
        sql.defs,
        # The automation sensor drives every stage, so it belongs to none of them. Steps run one
        # after another in the run's own process: a subprocess per step would import torch,
        # cellpose and umap again (7-9 s each), and the per-well stages spread their wells over
        # the worker_pool resource themselves. A deployment that sends steps to Celery workers
        # sets MORPH_ASSETS_EXECUTOR=celery (deploy/).
        dg.Definitions(sensors=[automation_sensor],
                       resources={"lake": lake_resource or LakeResource(),
                                  "worker_pool": worker_pool_resource if worker_pool is None else worker_pool},
                       executor=select_executor()),
    )


defs = build_definitions()

"""Dagster resources: where the lake and the incoming plates are, and the worker pool of per-well steps."""


from collections.abc import Iterator
from pathlib import Path

import dagster as dg
from pydantic import Field

from morph_assets.lib.io import Lake
from morph_assets.lib.tasks import WorkerPool, default_workers
from morph_assets.paths import default_lake_root, default_source_root


class LakeResource(dg.ConfigurableResource):
    """The Parquet lake and the folder where plates arrive.

    Empty strings mean the defaults of :mod:`morph_assets.paths` (environment variables
    ``MORPH_ASSETS_LAKE_ROOT`` / ``MORPH_ASSETS_SOURCE_ROOT``, else ``data_lake/`` and
    ``data_lake/source/`` in the project).
    """

    lake_root: str = Field(default="", description="Lake root folder; empty: MORPH_ASSETS_LAKE_ROOT or data_lake/.")
    source_root: str = Field(default="", description="Folder of incoming plate folders; empty: <lake root>/source.")
    workers: int = Field(default=0, description="Worker processes per run; 0: one per available CPU.")
    quiet_minutes: float = Field(
        default=10.0,
        description="A plate folder without an ACQUISITION_COMPLETE marker counts as complete after this long unchanged.",
    )

    def lake(self) -> Lake:
        """The lake."""
        return Lake(Path(self.lake_root) if self.lake_root else default_lake_root())

    def source(self) -> Path:
        """The folder holding one sub-folder per plate."""
        return Path(self.source_root) if self.source_root else default_source_root()

    def plate_folder(self, plate: str) -> Path:
        """The source folder of one plate."""
        return self.source() / plate

    def n_workers(self) -> int:
        """Worker processes per run."""
        return self.workers if self.workers > 0 else default_workers()


@dg.resource(
    required_resource_keys={"lake"},
    description="Worker processes for the per-well steps, as many as the lake resource's workers; started "
    "on first use and stopped when the run (or, with a process per step, the step) ends.",
)
def worker_pool_resource(context: dg.InitResourceContext) -> Iterator[WorkerPool]:
    """The pool the per-well assets pass to :func:`morph_assets.lib.tasks.map_wells`.

    A resource rather than a global so that its life is the run's: Dagster closes it when the
    run's steps are done, and a caller running many runs in one process (the command line)
    passes its own :class:`WorkerPool` in its place to keep the workers warm between runs.
    """
    with WorkerPool(context.resources.lake.n_workers()) as pool:
        yield pool

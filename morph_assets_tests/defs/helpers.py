"""Helpers for running the platform's Dagster jobs in-process against a temporary lake."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from morph_assets.definitions import build_definitions
from morph_assets.defs.partitions import plate_range_tags
from morph_assets.resources import LakeResource


def definitions_for(lake_root: Path, source_root: Path, workers: int = 1) -> dg.Definitions:
    """The platform's definitions with the lake resource pointed at temporary folders."""
    return build_definitions(LakeResource(lake_root=str(lake_root), source_root=str(source_root), workers=workers))


def ingest_plate(
    defs: dg.Definitions, instance: dg.DagsterInstance, plate: str, *, only: tuple[str, ...] | None = None
) -> tuple:
    """Register ``plate`` and run its plate-level job, then its single-run wells job, as the sensors do.

    ``only`` restricts both runs to these assets (tests of the ingest stage skip segmentation).
    """
    if plate not in instance.get_dynamic_partitions("plates"):
        instance.add_dynamic_partitions("plates", [plate])
    plate_job, wells_job = defs.resolve_job_def("plate_job"), defs.resolve_job_def("plate_wells_job")

    def selection(job) -> list[dg.AssetKey] | None:
        if only is None:
            return None
        return [key for key in job.asset_layer.executable_asset_keys if key.to_user_string() in only]

    layout = plate_job.execute_in_process(
        instance=instance, partition_key=plate, raise_on_error=False, asset_selection=selection(plate_job))
    wells = wells_job.execute_in_process(
        instance=instance, tags=plate_range_tags(plate), raise_on_error=False, asset_selection=selection(wells_job))
    return layout, wells


def check_results(result) -> dict[str, dg.AssetCheckEvaluation]:
    """The asset check evaluations of a run, by check name."""
    return {evaluation.check_name: evaluation for evaluation in result.get_asset_check_evaluations()}

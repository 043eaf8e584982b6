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


#: One plate's profiles, and the SQL views: the runs the automation requests after a plate's wells.
PROFILES = dg.AssetSelection.assets("well_profiles")
VIEWS = dg.AssetSelection.groups("sql")


def materialize_selection(defs: dg.Definitions, instance: dg.DagsterInstance, selection: dg.AssetSelection,
                          **execute) -> dg.ExecuteInProcessResult:
    """Materialize the assets of ``selection`` in one in-process run (``partition_key=``,
    ``run_config=`` pass through), as a run the automation requests would."""
    keys = list(selection.resolve(defs.resolve_asset_graph()))
    job = defs.resolve_implicit_job_def_def_for_assets(keys)
    return job.execute_in_process(instance=instance, asset_selection=keys, raise_on_error=False, **execute)


def run_plates_and_study(defs: dg.Definitions, instance: dg.DagsterInstance, plates, study_config: dict) -> dict:
    """Each plate's plate-level and wells runs (which must succeed) and its profiles, then the
    study (``study_job``, networks included, with ``study_config``) and the SQL views, in the
    order the automation requests them.

    Returns
    -------
    dict of str to dagster.ExecuteInProcessResult
        ``"wells <plate>"``, ``"profiles <plate>"``, ``"study"`` and ``"views"``.
    """
    runs = {}
    for plate in plates:
        plate_run, wells_run = ingest_plate(defs, instance, plate)
        assert plate_run.success and wells_run.success
        runs[f"wells {plate}"] = wells_run
        runs[f"profiles {plate}"] = materialize_selection(defs, instance, PROFILES, partition_key=plate)
    runs["study"] = defs.resolve_job_def("study_job").execute_in_process(
        instance=instance, raise_on_error=False, run_config=study_config)
    runs["views"] = materialize_selection(defs, instance, VIEWS)
    return runs


def check_results(result) -> dict[str, dg.AssetCheckEvaluation]:
    """The asset check evaluations of a run, by check name."""
    return {evaluation.check_name: evaluation for evaluation in result.get_asset_check_evaluations()}

"""Declarative Automation: what Dagster requests after a plain materialization, and how the
command line groups requests into runs."""

from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
from morph_assets_tests.defs.helpers import definitions_for

from morph_assets.definitions import defs as platform_defs
from morph_assets.defs.automation import NETWORK_ASSETS, NIGHTLY, PlannedRun, plan_runs
from morph_assets.defs.partitions import plate_range_tags
from morph_assets.resources import LakeResource, worker_pool_resource

PER_WELL = ["raw_images", "masks", "regionprops_features", "cellprofiler_mean", "image_tensors", "single_cell_crops"]
STUDY = {"treatment_profiles", "map_report", "treatment_clusters", "cluster_validation", "hierarchical_clusters",
         "study_report", "vae_embeddings", "image_tensor_index",
         "single_cell_crop_index"}


def _key(name: str) -> dg.AssetKey:
    return dg.AssetKey(name.split("/"))


def test_requests_are_grouped_one_run_per_plate_and_block_of_consecutive_wells():
    graph = platform_defs.resolve_asset_graph()
    requested = {
        _key("raw_images"): {"P1|A01", "P1|A02", "P1|B01", "P2|A01"},  # A02 -> B01 skips A03..A24: two runs
        _key("masks"): {"P1|A02", "P1|A01"},
        _key("well_profiles"): {"P1"},
        _key("treatment_profiles"): {None},
        _key("sql/raw_images"): {None},
        _key("map_report"): set(),  # nothing requested: no run
    }
    runs = plan_runs(requested, graph)
    assert runs == [
        PlannedRun((_key("raw_images"), _key("masks")), "well", "P1", None, plate_range_tags("P1", "A01", "A02"),
                   ("A01", "A02")),
        PlannedRun((_key("raw_images"),), "well", "P1", None, plate_range_tags("P1", "B01", "B01"), ("B01",)),
        PlannedRun((_key("raw_images"),), "well", "P2", None, plate_range_tags("P2", "A01", "A01"), ("A01",)),
        PlannedRun((_key("well_profiles"),), "plate", "P1", "P1"),
        PlannedRun(tuple(sorted((_key("treatment_profiles"), _key("sql/raw_images")),
                                key=list(graph.toposorted_asset_keys).index)), "study"),
    ]


def test_every_asset_has_the_condition_of_its_level():
    graph = platform_defs.resolve_asset_graph()

    def label(name: str) -> str | None:
        condition = graph.get(_key(name)).automation_condition
        return condition.get_label() if condition is not None else None

    assert {name: label(name) for name in PER_WELL + ["well_profiles"]} == dict.fromkeys(PER_WELL + ["well_profiles"],
                                                                                         "eager")
    assert {label(name) for name in STUDY | {"sql/map_headline"}} == {"study: after any plate changes"}
    assert {label(name) for name in NETWORK_ASSETS} == {NIGHTLY.get_label()}
    # Roots are started by the new-plate sensor or by hand, the Cellpose model only on request.
    assert {label(name) for name in ("plate_layout", "illumination_correction", "segmentation_model")} == {None}
    assert {graph.get(_key(name)).code_version for name in NETWORK_ASSETS} == {"1"}
    # The classical default never needs the Cellpose model: no edge, no "upstream missing" dialog.
    assert _key("segmentation_model") not in graph.get(_key("masks")).parent_keys
    sensor = platform_defs.get_repository_def().get_sensor_def("automation")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def _requests(result, graph) -> dict[str, set]:
    return {key.to_user_string(): set(result.get_requested_partitions(key)) for key in graph.get_all_asset_keys()
            if result.get_num_requested(key)}


def test_a_plain_materialization_of_one_plates_wells_brings_its_profiles_then_the_study(
        source_root: Path, lake_root: Path):
    defs = definitions_for(lake_root, source_root)
    graph = defs.resolve_asset_graph()
    resources = {"lake": LakeResource(lake_root=str(lake_root), source_root=str(source_root), workers=1),
                 "worker_pool": worker_pool_resource}
    every_asset = list(defs.assets)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("plates", ["SYNJT0001", "SYNJT0002"])
        for plate in ("SYNJT0001", "SYNJT0002"):  # both plates have their plate-level assets
            assert defs.resolve_job_def("plate_job").execute_in_process(instance=instance, partition_key=plate).success
        cursor = dg.evaluate_automation_conditions(defs=defs, instance=instance).cursor  # the baseline

        # As from the UI's catalog: the per-well assets, every well of one plate, one run.
        wells = dg.materialize(every_asset, instance=instance, selection=[_key(name) for name in PER_WELL],
                               tags=plate_range_tags("SYNJT0001"), resources=resources)
        assert wells.success
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
        requested = _requests(result, graph)
        partitioned = {name: keys for name, keys in requested.items() if keys != {None}}
        assert partitioned == {"well_profiles": {"SYNJT0001"}}  # that plate's profiles, nothing for SYNJT0002
        assert not STUDY & set(requested)  # the study waits for the profiles
        assert not set(NETWORK_ASSETS) & set(requested)

        profiles = dg.materialize(every_asset, instance=instance, selection=[_key("well_profiles")],
                                  partition_key="SYNJT0001", resources=resources)
        assert profiles.success
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=result.cursor)
        requested = _requests(result, graph)
        assert STUDY <= set(requested) and all(keys == {None} for keys in requested.values())
        assert "sql/map_headline" in requested
        assert not set(NETWORK_ASSETS) & set(requested)  # re-run wells never retrain the networks by themselves

        # At the first evaluation after 03:00 UTC both networks retrain: their inputs changed (the
        # profiles; the tensor index was requested) since they were last requested.
        night = (datetime.now(timezone.utc) + timedelta(days=1)).replace(hour=3, minute=1, second=0, microsecond=0)
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=result.cursor,
                                                   evaluation_time=night)
        assert set(_requests(result, graph)) & set(NETWORK_ASSETS) == set(NETWORK_ASSETS)


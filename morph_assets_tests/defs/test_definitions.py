"""The code location loads and has the shape the platform promises."""

import dagster as dg

from morph_assets.definitions import defs
from morph_assets.defs.partitions import plate_well_partitions, plates_partitions


def test_definitions_load_and_list_assets_checks_jobs_sensors_schedules():
    repository = defs.get_repository_def()
    keys = {key.to_user_string() for key in repository.asset_graph.get_all_asset_keys()}
    assert {"plate_layout", "raw_images", "illumination_correction", "segmentation_model", "masks",
            "regionprops_features", "cellprofiler_mean", "well_profiles", "treatment_profiles", "map_report",
            "image_tensors", "single_cell_crops", "single_cell_crop_index", "treatment_classifiers", "vae_model",
            "vae_embeddings", "treatment_clusters",
            "cluster_validation", "study_report", "sql/compound_summary", "sql/map_headline"} <= keys
    assert {"plate_job", "plate_wells_job", "study_job", "segmentation_model_job"} <= {
        job.name for job in repository.get_all_jobs()}
    # What follows what is the assets' automation conditions, evaluated by one sensor; no job-name chain.
    assert {sensor.name for sensor in repository.sensor_defs} == {"new_plate_sensor", "automation"}
    assert [schedule.name for schedule in repository.schedule_defs] == ["incomplete_plates_schedule"]
    checks = {key.name for key in repository.asset_graph.asset_check_keys}
    assert {"dmso_wells_present", "all_wells_ingested", "image_qc", "objects_per_site", "segmentation_quality",
            "dmso_wells_consistent", "positive_controls_retrieved"} <= checks


def test_partitions_are_plate_by_well_with_single_run_backfills():
    graph = defs.resolve_asset_graph()
    raw_images = graph.get(dg.AssetKey("raw_images"))
    assert raw_images.partitions_def == plate_well_partitions
    assert raw_images.backfill_policy == dg.BackfillPolicy.single_run()
    assert graph.get(dg.AssetKey("plate_layout")).partitions_def == plates_partitions
    assert plate_well_partitions.partitions_defs[1].partitions_def.get_partition_keys()[:2] == ["A01", "A02"]
    assert len(plate_well_partitions.partitions_defs[1].partitions_def.get_partition_keys()) == 384


def test_plate_and_wells_jobs_hold_exactly_the_assets_of_their_partitioning():
    repository = defs.get_repository_def()
    graph = defs.resolve_asset_graph()

    def assets_of(job_name):
        return {key for key in repository.get_job(job_name).asset_layer.executable_asset_keys}

    plate_assets = assets_of("plate_job")
    well_assets = assets_of("plate_wells_job")
    assert {key.to_user_string() for key in plate_assets} == {"plate_layout", "illumination_correction"}
    assert {key.to_user_string() for key in well_assets} == {"raw_images", "masks", "regionprops_features",
                                                             "cellprofiler_mean", "image_tensors",
                                                             "single_cell_crops"}
    assert all(graph.get(key).partitions_def == plates_partitions for key in plate_assets)
    assert all(graph.get(key).partitions_def == plate_well_partitions for key in well_assets)


def test_every_sql_model_is_an_asset_downstream_of_the_tables_it_reads():
    graph = defs.resolve_asset_graph()
    compound_summary = graph.get(dg.AssetKey(["sql", "compound_summary"]))
    assert {key.to_user_string() for key in compound_summary.parent_keys} == {
        "sql/treatment_profiles_cellprofiler", "sql/map_per_treatment"}
    staging = graph.get(dg.AssetKey(["sql", "treatment_profiles_cellprofiler"]))
    assert {key.to_user_string() for key in staging.parent_keys} == {"treatment_profiles"}
    ingest_errors = graph.get(dg.AssetKey(["sql", "ingest_errors"]))
    assert {key.to_user_string() for key in ingest_errors.parent_keys} == {"sql/errors"}
    # errors/<table> of every per-well asset, read together; and, like every view over tables
    # upstream of the profiles, the profiles, so that the view follows a whole plate.
    errors = graph.get(dg.AssetKey(["sql", "errors"]))
    assert {key.to_user_string() for key in errors.parent_keys} == {
        "raw_images", "masks", "regionprops_features", "cellprofiler_mean", "image_tensors", "single_cell_crops",
        "well_profiles"}


def test_no_instance_becomes_the_current_defs_state_storage_in_tests():
    # conftest keeps it unset: a stale one, reset by a late garbage collection, broke an unrelated
    # test's build_definitions() (see _no_current_defs_state_storage).
    from dagster._core.storage.defs_state.base import DefsStateStorage

    with dg.instance_for_test():
        assert DefsStateStorage.get() is None
    assert DefsStateStorage.get() is None

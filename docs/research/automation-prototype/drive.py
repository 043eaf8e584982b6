"""Drive toy_defs like a CLI would: evaluate automation conditions in-process, turn the requests
into runs (one range run per plate for single-run multi-partitioned assets), execute, repeat."""
import dagster as dg
from dagster._core.definitions.automation_tick_evaluation_context import (   # internal (not public)
    build_run_requests, build_run_requests_with_backfill_policies)
from dagster._core.definitions.events import AssetKeyPartitionKey
from dagster._core.definitions.partitions.context import partition_loading_context

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
RANGE = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")


def requested(result) -> dict[str, list]:
    return {k.to_user_string(): sorted(map(str, v)) for k, v in result._requested_partitions_by_asset_key.items()}


def sensor_run_requests(defs, instance, result, emit_backfills: bool):
    """What AutomationTickEvaluationContext._build_run_requests makes of this tick's requests."""
    with partition_loading_context(dynamic_partitions_store=instance):
        return build_run_requests(list(result._requested_subsets), defs.resolve_asset_graph(), {}, emit_backfills)


def cli_run_requests(defs, instance, result):
    """What the backfill daemon makes of the same requests (it applies BackfillPolicy)."""
    parts = [AssetKeyPartitionKey(k, p) for k, ps in result._requested_partitions_by_asset_key.items() for p in ps]
    graph = defs.resolve_asset_graph()
    with partition_loading_context(dynamic_partitions_store=instance):
        rrs = build_run_requests_with_backfill_policies(parts, graph, instance)
    order = {k: i for i, k in enumerate(graph.toposorted_asset_keys)}
    return sorted(rrs, key=lambda rr: min(order[k] for k in rr.asset_selection))


def show(rr) -> str:
    keys = ",".join(k.to_user_string() for k in rr.asset_selection or [])
    if rr.asset_graph_subset is not None:
        return f"BACKFILL {rr.asset_graph_subset!r}"[:300]
    where = (f"range {rr.tags[RANGE[0]]}..{rr.tags[RANGE[1]]}" if RANGE[0] in rr.tags
             else f"partition {rr.partition_key}" if rr.partition_key else "unpartitioned")
    return f"run [{keys}] {where}"


def execute(defs, instance, rr):
    job = defs.resolve_implicit_job_def_def_for_assets(rr.asset_selection)
    res = job.execute_in_process(instance=instance, asset_selection=list(rr.asset_selection),
                                 partition_key=rr.partition_key, tags=dict(rr.tags), raise_on_error=False, run_config=QUIET)
    return res.success


def settle(defs, instance, cursor, label, max_ticks=5, run=True):
    """Evaluate until nothing is requested; returns the cursor."""
    for tick in range(max_ticks):
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
        cursor = result.cursor
        req = requested(result)
        print(f"  [{label}] tick {tick}: requested {req or 'nothing'}")
        if not req:
            return cursor
        for rr in sensor_run_requests(defs, instance, result, True):
            print(f"      sensor(emit_backfills=True) -> {show(rr)}")
        for rr in sensor_run_requests(defs, instance, result, False):
            print(f"      sensor(emit_backfills=False) -> {show(rr)}")
        for rr in cli_run_requests(defs, instance, result):
            ok = execute(defs, instance, rr) if run else None
            print(f"      CLI executes {show(rr)} -> success={ok}")
        if not run:
            return cursor
    return cursor


def plate_run(defs, instance, plate, wells, assets=("raw_images", "features")):
    """A plain materialization of some wells of one plate, as the UI/a test would (one range run)."""
    keys = [dg.AssetKey(a) for a in assets]
    job = defs.resolve_implicit_job_def_def_for_assets(keys)
    tags = {RANGE[0]: f"{plate}|{wells[0]}", RANGE[1]: f"{plate}|{wells[-1]}"}
    assert job.execute_in_process(instance=instance, asset_selection=keys, tags=tags, run_config=QUIET).success

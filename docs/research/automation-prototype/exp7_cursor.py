"""A fresh cursor forgets what happened before the first evaluation: evaluate once first (or persist the cursor)."""
import dagster as dg
from drive import QUIET, plate_run, requested
from toy_defs import defs, WELLS

with dg.instance_for_test() as inst:
    inst.add_dynamic_partitions("plates", ["P1"])
    dg.materialize([defs.resolve_assets_def("plate_layout")], instance=inst, partition_key="P1", run_config=QUIET)
    plate_run(defs, inst, "P1", WELLS)
    r = dg.evaluate_automation_conditions(defs=defs, instance=inst)            # first evaluation AFTER the run
    print("  fresh cursor, evaluated after the run:", requested(r) or "nothing")
    r = dg.evaluate_automation_conditions(defs=defs, instance=inst, cursor=r.cursor)
    print("  second evaluation:", requested(r) or "nothing")
    base = r.cursor
    plate_run(defs, inst, "P1", WELLS[:1])
    r = dg.evaluate_automation_conditions(defs=defs, instance=inst, cursor=base)
    print("  baseline cursor taken before a re-run of 1 well:", requested(r) or "nothing")
    from dagster._core.definitions.asset_daemon_cursor import AssetDaemonCursor  # cursor round-trips through serdes
    from dagster_shared.serdes import serialize_value, deserialize_value
    s = serialize_value(r.cursor)
    print(f"  cursor serialises to {len(s)} chars; round-trip ok: {deserialize_value(s, AssetDaemonCursor).evaluation_id == r.cursor.evaluation_id}")

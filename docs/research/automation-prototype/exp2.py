"""Per-well eager (features follows raw_images), run grouping, and 'in progress'."""
import dagster as dg
from drive import settle, plate_run, requested, QUIET
import toy_defs
from toy_defs import defs, WELLS

with dg.instance_for_test() as inst:
    inst.add_dynamic_partitions("plates", ["P1", "P2", "P3"])
    cur = settle(defs, inst, None, "start")
    for p in ["P1", "P2", "P3"]:
        dg.materialize([defs.resolve_assets_def("plate_layout")], instance=inst, partition_key=p, run_config=QUIET)
    cur = settle(defs, inst, cur, "plate_layout P1..P3", run=False)
    # raw_images only: P1 all wells, P2 two non-adjacent wells (A01, B01) -> what runs for features?
    plate_run(defs, inst, "P1", WELLS, assets=("raw_images",))
    job = defs.resolve_implicit_job_def_def_for_assets([dg.AssetKey("raw_images")])
    for w in ["A01", "B01"]:
        job.execute_in_process(instance=inst, asset_selection=[dg.AssetKey("raw_images")], partition_key=f"P2|{w}", run_config=QUIET)
    cur = settle(defs, inst, cur, "raw_images P1 all + P2 A01,B01")
    # in progress: evaluate while a run of P3's raw_images+features is executing
    seen = {}
    def look():
        r = dg.evaluate_automation_conditions(defs=defs, instance=inst, cursor=seen.get("cur", cur))
        seen["cur"] = r.cursor
        seen["req"] = requested(r)
    toy_defs.HOOK.append(look)
    plate_run(defs, inst, "P3", WELLS)
    toy_defs.HOOK.clear()
    print(f"  [P3 run in progress] requested {seen['req'] or 'nothing'}")
    cur = settle(defs, inst, seen["cur"], "P3 run finished")

"""The race seen under dagster dev: one tick requests well_profiles[P2] AND the study (different
partitions defs, so will_be_requested does not link them); the study finishes first. Is the
study requested again once well_profiles[P2] lands?"""
import os
import dagster as dg
from drive import QUIET, plate_run, requested, settle
from toy_defs import defs, WELLS

K = dg.AssetKey


def run(keys, pk=None):
    job = defs.resolve_implicit_job_def_def_for_assets([K(k) for k in keys])
    job.execute_in_process(instance=inst, asset_selection=[K(k) for k in keys], partition_key=pk, run_config=QUIET)


def tick(label):
    global cur
    r = dg.evaluate_automation_conditions(defs=defs, instance=inst, cursor=cur)
    cur = r.cursor
    print(f"  [{label}] requested {requested(r) or 'nothing'}")


order = os.environ.get("ORDER", "study_first")
print(f"study condition: {os.environ.get('TOY_STUDY_COND')}; order: {order}")
with dg.instance_for_test() as inst:
    cur = None
    inst.add_dynamic_partitions("plates", ["P1", "P2"])
    tick("start")
    for p in ["P1", "P2"]:
        run(["plate_layout"], p)
    plate_run(defs, inst, "P1", WELLS)
    tick("P1 wells done")
    run(["well_profiles"], "P1")
    plate_run(defs, inst, "P2", WELLS)
    if order == "settle":
        settle(defs, inst, cur, "well_profiles[P1] and P2's wells landed; CLI executes what is requested")
        raise SystemExit
    tick("well_profiles[P1] and P2's wells landed before this tick")
    if order == "study_first":
        run(["treatment_profiles", "map_report"]); run(["well_profiles"], "P2")
    else:
        run(["well_profiles"], "P2"); run(["treatment_profiles", "map_report"])
    tick(f"both ran ({order}), landed before this tick")
    tick("next tick")

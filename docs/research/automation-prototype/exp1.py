import os, sys
import dagster as dg
from drive import settle, plate_run, QUIET

from toy_defs import defs, WELLS

with dg.instance_for_test() as inst:
    inst.add_dynamic_partitions("plates", ["P1", "P2", "P3"])
    print(f"well_profiles: {os.environ.get('TOY_PLATE_COND', 'eager')}; treatment_profiles/map_report: {os.environ.get('TOY_STUDY_COND', 'eager')}"
          f"; per-well features eager: {bool(os.environ.get('TOY_WELL_EAGER'))}")
    cur = settle(defs, inst, None, "start, 3 plates registered, nothing materialized")
    for p in ["P1", "P2", "P3"]:
        dg.materialize([defs.resolve_assets_def("plate_layout")], instance=inst, partition_key=p, run_config=QUIET)
    cur = settle(defs, inst, cur, "plate_layout of P1..P3 materialized")
    plate_run(defs, inst, "P1", WELLS)
    cur = settle(defs, inst, cur, "P1: all wells raw_images+features (one range run)")
    plate_run(defs, inst, "P2", WELLS[:2])
    cur = settle(defs, inst, cur, "P2: 2 of 4 wells")
    plate_run(defs, inst, "P2", WELLS[2:])
    cur = settle(defs, inst, cur, "P2: the other 2 wells")
    plate_run(defs, inst, "P1", WELLS[1:3])
    cur = settle(defs, inst, cur, "P1: re-run 2 wells")
    plate_run(defs, inst, "P3", WELLS, assets=("raw_images",))
    cur = settle(defs, inst, cur, "P3: raw_images only (features not materialized)")
    print("vae_model materialized?", inst.get_latest_materialization_event(dg.AssetKey("vae_model")) is not None)

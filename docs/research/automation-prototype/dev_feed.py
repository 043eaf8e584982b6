"""Against the dagster dev instance: register 2 plates, plain in-process materializations of
P1 (plate_layout + all wells' raw_images AND features in one range run) and P2 (plate_layout +
raw_images only, so features must follow via the per-well eager condition)."""
import dagster as dg
from drive import QUIET, plate_run
from toy_dev import defs
from toy_defs import WELLS

inst = dg.DagsterInstance.get()
inst.add_dynamic_partitions("plates", ["P1", "P2"])
for p in ["P1", "P2"]:
    dg.materialize([defs.resolve_assets_def("plate_layout")], instance=inst, partition_key=p, run_config=QUIET)
plate_run(defs, inst, "P1", WELLS)
plate_run(defs, inst, "P2", WELLS, assets=("raw_images",))
print("fed")

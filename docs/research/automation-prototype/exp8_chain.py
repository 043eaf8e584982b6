"""Whole chain from the new-plate sensor's single plate-level run: raw_images (per-well, eager,
dep on plate_layout) -> features -> well_profiles -> study; and a plate registered after the baseline."""
import dagster as dg
from drive import QUIET, settle
from toy_defs import defs

with dg.instance_for_test() as inst:
    inst.add_dynamic_partitions("plates", ["P1"])
    cur = settle(defs, inst, None, "baseline evaluation (P1 registered, nothing materialized)")
    inst.add_dynamic_partitions("plates", ["P2"])          # what the sensor's dynamic_partitions_request does
    cur = settle(defs, inst, cur, "P2 registered after the baseline, nothing materialized", run=False)
    dg.materialize([defs.resolve_assets_def("plate_layout")], instance=inst, partition_key="P2", run_config=QUIET)
    cur = settle(defs, inst, cur, "the sensor's first run: plate_layout[P2]", max_ticks=6)

"""Costly study assets without automation: do they show 'Unsynced' (STALE) after upstream changes?"""
import dagster as dg
from dagster._utils.test.data_versions import get_stale_status_resolver   # internal; the UI's GraphQL uses the same CachingStaleStatusResolver
from drive import QUIET, plate_run, settle
from toy_defs import defs, WELLS

NPLATES = 25   # 25 plates x 4 wells = 100 per-well partitions (>= SKIP_PARTITION_DATA_VERSION_DEPENDENCY_THRESHOLD)


@dg.asset(deps=["treatment_profiles"], code_version="1")
def net_on_study(): return dg.MaterializeResult()


@dg.asset(deps=[dg.AssetKey("features")], code_version="1")            # AllPartitionMapping over 120 keys
def net_on_wells(): return dg.MaterializeResult()


@dg.asset(deps=[dg.AssetKey("well_profiles")], code_version="1")       # AllPartitionMapping over 30 plates
def net_on_plates(): return dg.MaterializeResult()


d = dg.Definitions.merge(defs, dg.Definitions(assets=[net_on_study, net_on_wells, net_on_plates]))
NETS = ["net_on_study", "net_on_wells", "net_on_plates", "vae_model"]


def status(inst, label):
    r = get_stale_status_resolver(inst, list(d.resolve_asset_graph().assets_defs))
    print(f"  [{label}]")
    for n in NETS:
        k = dg.AssetKey(n)
        causes = [f"{c.key.asset_key.to_user_string()}: {c.reason}" for c in r.get_stale_root_causes(k)][:2]
        print(f"     {n:14s} {r.get_status(k).value:7s} {causes}")


with dg.instance_for_test() as inst:
    plates = [f"P{i:02d}" for i in range(NPLATES)]
    inst.add_dynamic_partitions("plates", plates)
    for p in plates:
        dg.materialize([d.resolve_assets_def("plate_layout")], instance=inst, partition_key=p, run_config=QUIET)
    j = d.resolve_implicit_job_def_def_for_assets([dg.AssetKey("raw_images")])   # one box run over all plates
    j.execute_in_process(instance=inst, asset_selection=[dg.AssetKey("raw_images"), dg.AssetKey("features")], run_config=QUIET,
                         tags={"dagster/asset_partition_range_start": f"{plates[0]}|{WELLS[0]}",
                               "dagster/asset_partition_range_end": f"{plates[-1]}|{WELLS[-1]}"})
    job = d.resolve_implicit_job_def_def_for_assets([dg.AssetKey("well_profiles")])
    for p in plates:
        job.execute_in_process(instance=inst, asset_selection=[dg.AssetKey("well_profiles")], partition_key=p, run_config=QUIET)
    dg.materialize([d.resolve_assets_def(k) for k in ["treatment_profiles", *NETS]],
                   instance=inst, run_config=QUIET, selection=["treatment_profiles", *NETS])
    status(inst, "all materialized")
    plate_run(d, inst, "P03", WELLS[:2])
    job.execute_in_process(instance=inst, asset_selection=[dg.AssetKey("well_profiles")], partition_key="P03", run_config=QUIET)
    dg.materialize([d.resolve_assets_def("treatment_profiles")], instance=inst, run_config=QUIET)
    status(inst, "P03: 2 wells re-run, its well_profiles and treatment_profiles rebuilt")

"""Toy graph shaped like morph_assets: plate-level root -> per-well (plate x well, single-run)
-> plate-level profiles (MultiToSingleDimension) -> unpartitioned study (cheap) + network (costly)."""
import os
import dagster as dg

WELLS = ["A01", "A02", "B01", "B02"]           # 4 instead of 384: same shape
plates = dg.DynamicPartitionsDefinition(name="plates")
plate_well = dg.MultiPartitionsDefinition({"plate": plates, "well": dg.StaticPartitionsDefinition(WELLS)})
PER_WELL = dict(partitions_def=plate_well, backfill_policy=dg.BackfillPolicy.single_run())
EAGER = dg.AutomationCondition.eager()
# which condition the downstream assets get can be switched per experiment
# eager() minus "no dep partition missing": a study asset over all plates must not wait for
# plates that have no profiles yet (AllPartitionMapping makes one missing plate block it).
EAGER_ANY_PLATE = EAGER.without(~dg.AutomationCondition.any_deps_missing())
# ... and not while a dep's own deps just changed (a plate-level dep about to be requested in this
# same tick: will_be_requested ignores deps with another partitions def, so eager alone races).
AC = dg.AutomationCondition
PARTITIONED = dg.AssetSelection.assets("raw_images", "features", "well_profiles", "plate_layout")  # repo: by level tag
GUARDED = (EAGER_ANY_PLATE & ~AC.any_deps_match(AC.any_deps_updated()).allow(PARTITIONED)).with_label("eager_any_plate_guarded")
# ... or: keep eager_any_plate and add a catch-up term: a partitioned dep (a plate's profiles) that
# landed after this asset was last requested re-requests it. Single operands on both sides of
# since() keep their timestamps, so "dep updated after my request" wins over the same-tick reset.
CATCHUP = AC.any_deps_match(AC.newly_updated()).allow(PARTITIONED).since(AC.newly_requested())
EAGER_CATCHUP = (EAGER_ANY_PLATE | (CATCHUP & ~AC.any_deps_in_progress() & ~AC.in_progress())).with_label("eager_any_plate_catchup")
GUARD = AC.any_deps_match(AC.any_deps_updated()).allow(PARTITIONED).with_label("a partitioned dep's deps just changed")
ROBUST = ((EAGER_ANY_PLATE | (CATCHUP & ~AC.any_deps_in_progress() & ~AC.in_progress())) & ~GUARD).with_label("study")
CONDS = {"guarded": GUARDED, "catchup": EAGER_CATCHUP, "robust": ROBUST, "eager": EAGER, "on_missing": dg.AutomationCondition.on_missing(),
         "any_deps_updated": dg.AutomationCondition.any_deps_updated(),
         "eager_any_plate": EAGER_ANY_PLATE, "none": None}
PLATE_COND = CONDS[os.environ.get("TOY_PLATE_COND", "eager")]
STUDY_COND = CONDS[os.environ.get("TOY_STUDY_COND", "eager")]
PER_WELL_COND = EAGER if os.environ.get("TOY_WELL_EAGER") else None


def _keys(context):
    return [str(k) for k in context.partition_keys]


@dg.asset(partitions_def=plates)                       # root: started by the new-plate sensor / CLI
def plate_layout(context): return dg.MaterializeResult(metadata={"plate": context.partition_key})


HOOK = []  # experiments put a callable here to look at the instance while a run is in progress


@dg.asset(deps=[plate_layout], automation_condition=EAGER if os.environ.get("TOY_RAW_EAGER") else None, **PER_WELL)
def raw_images(context):
    for hook in HOOK:
        hook()
    return dg.MaterializeResult(metadata={"n": len(_keys(context))})


@dg.asset(deps=[raw_images], automation_condition=PER_WELL_COND, **PER_WELL)
def features(context): return dg.MaterializeResult(metadata={"n": len(_keys(context))})


@dg.asset(partitions_def=plates, automation_condition=PLATE_COND,
          deps=[plate_layout, dg.AssetDep(features, partition_mapping=dg.MultiToSingleDimensionPartitionMapping("plate"))])
def well_profiles(context): return dg.MaterializeResult(metadata={"plate": context.partition_key})


@dg.asset(deps=[well_profiles], automation_condition=STUDY_COND)        # cheap study asset
def treatment_profiles(): return dg.MaterializeResult()


@dg.asset(deps=[treatment_profiles], automation_condition=STUDY_COND)   # cheap study asset
def map_report(): return dg.MaterializeResult()


@dg.asset(deps=[treatment_profiles], code_version="1")            # costly: no condition (on request)
def vae_model(): return dg.MaterializeResult()


defs = dg.Definitions(assets=[plate_layout, raw_images, features, well_profiles, treatment_profiles, map_report, vae_model])

"""Costly assets on a nightly cron, on one simulated clock (dagster._core.test_utils.freeze_time, internal)."""
import datetime as dt
import dagster as dg
from dagster._core.test_utils import freeze_time
from drive import QUIET

AC = dg.AutomationCondition
CRON = "0 3 * * *"


@dg.asset
def treatment_profiles(): return dg.MaterializeResult()


@dg.asset
def image_tensor_index(): return dg.MaterializeResult()


DEPS = dict(deps=[treatment_profiles, image_tensor_index], code_version="1")


@dg.asset(**DEPS, automation_condition=AC.on_cron(CRON))       # built-in: waits until ALL deps updated since the tick
def net_on_cron(): return dg.MaterializeResult()


# only at the first evaluation after 03:00, and only if a dep changed since the net was last built
NIGHTLY_IF_CHANGED = (AC.cron_tick_passed(CRON) & AC.any_deps_updated().since_last_handled()
                      & ~AC.any_deps_in_progress() & ~AC.in_progress()).with_label("nightly_if_changed")


@dg.asset(**DEPS, automation_condition=NIGHTLY_IF_CHANGED)
def net_nightly(): return dg.MaterializeResult()


defs = dg.Definitions(assets=[treatment_profiles, image_tensor_index, net_on_cron, net_nightly])
NETS = [net_on_cron, net_nightly]
day0 = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)


def at(hours):
    return freeze_time(day0 + dt.timedelta(hours=hours))


def ev(inst, cur, hours, label, run=True):
    with at(hours):
        r = dg.evaluate_automation_conditions(defs=defs, instance=inst, cursor=cur)
        req = [n.key.to_user_string() for n in NETS if r.get_num_requested(n.key)]
        print(f"  day0 {hours:+5.1f}h {label:55s} requested: {req or 'nothing'}")
        for n in NETS:
            if run and r.get_num_requested(n.key):
                dg.materialize([n], instance=inst, run_config=QUIET)
    return r.cursor


def mat(inst, hours, assets):
    with at(hours):
        dg.materialize(assets, instance=inst, run_config=QUIET)


with dg.instance_for_test() as inst:
    cur = ev(inst, None, 0, "start")
    mat(inst, 1, defs.assets)
    cur = ev(inst, cur, 1.1, "everything materialized at 01:00")
    cur = ev(inst, cur, 3.1, "03:06, nothing changed since 01:00")
    mat(inst, 10, [treatment_profiles])
    cur = ev(inst, cur, 10.1, "10:00 treatment_profiles updated (a few wells re-run)")
    cur = ev(inst, cur, 12, "12:00")
    cur = ev(inst, cur, 27.1, "next day 03:06")
    cur = ev(inst, cur, 28, "next day 04:00")
    mat(inst, 29, [treatment_profiles, image_tensor_index])
    cur = ev(inst, cur, 29.1, "next day 05:00, both deps updated")
    cur = ev(inst, cur, 51.1, "day after 03:06")

"""Which automation sensor do the definitions carry, and with which default status?"""
import dagster as dg
from toy_defs import defs

for label, d in [
    ("toy defs as they are (no sensor declared)", defs),
    ("with a declared AutomationConditionSensorDefinition", dg.Definitions.merge(defs, dg.Definitions(sensors=[
        dg.AutomationConditionSensorDefinition("automation", target=dg.AssetSelection.all(),
                                               default_status=dg.DefaultSensorStatus.RUNNING,
                                               minimum_interval_seconds=5)]))),
]:
    print(label)
    for s in d.get_repository_def().sensor_defs:
        print(f"   {s.name}: type={s.sensor_type.value} default_status={s.default_status.value} "
              f"min_interval={s.minimum_interval_seconds} emit_backfills={getattr(s, 'emit_backfills', None)}")

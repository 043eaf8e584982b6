"""toy_defs + the automation sensor, for a short `dagster dev` check."""
import os
os.environ.setdefault("TOY_WELL_EAGER", "1")
os.environ.setdefault("TOY_STUDY_COND", "robust")
import dagster as dg
import toy_defs

defs = dg.Definitions.merge(toy_defs.defs, dg.Definitions(sensors=[
    dg.AutomationConditionSensorDefinition("automation", target=dg.AssetSelection.all(),
                                           default_status=dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=5)]))

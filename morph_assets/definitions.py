"""The Dagster code location: every stage's definitions plus the shared resources."""

import dagster as dg

from morph_assets.defs import ingest, lake
from morph_assets.resources import LakeResource

defs = dg.Definitions.merge(
    ingest.defs,
    lake.defs,
    dg.Definitions(resources={"lake": LakeResource()}),
)

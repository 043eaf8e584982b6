"""Report stage: the study report, the paper's tables beside ours, on disk and in the UI."""

import dagster as dg

from morph_assets.defs.report.assets import study_report

defs = dg.Definitions(assets=[study_report])

"""Declarative Automation: which asset follows which, evaluated by Dagster itself.

The same conditions drive every route: the automation sensor under ``dagster dev`` (or the
daemon), and ``morph-assets demo`` / ``ingest``, which evaluate them in-process with
``dagster.evaluate_automation_conditions`` and execute what they request (:func:`plan_runs`
turns one evaluation's requests into runs). So however a plate's wells were materialized (the UI
catalog, a Launchpad run, a backfill, a sensor, the command line, a test), that plate's profiles
follow, then the study. Why each condition is built this way:
``docs/research/dagster-automation-1.13.md``.

- Per-well and plate-level assets: ``eager()``. A plate's profiles wait until every well of every
  per-well asset exists and nothing upstream is in progress, then run once for that plate.
- Cheap study assets (over all plates, unpartitioned) and the SQL views: :data:`STUDY`.
- Networks (classifiers, VAE): :data:`NIGHTLY`, plus any time on request; their staleness shows
  in the UI ("Unsynced") through the unpartitioned ``image_tensor_index`` and their code version.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import dagster as dg

from morph_assets.defs.jobs import LEVEL_TAG
from morph_assets.defs.partitions import plate_range_tags, plate_well_partitions, plates_partitions
from morph_assets.lib.plates import WELLS_384

AC = dg.AutomationCondition

#: Per-well (plate x well) and plate-level assets: rebuilt once every dep is there and one changed.
PER_PLATE = AC.eager()

#: Assets partitioned by plate or plate x well: the deps whose updates the study waits for.
PARTITIONED = (
    dg.AssetSelection.tag(LEVEL_TAG, "well")
    | dg.AssetSelection.tag(LEVEL_TAG, "plate")
    | dg.AssetSelection.tag(LEVEL_TAG, "plate_profiles")
)

#: The per-well and plate-level assets (everything upstream of a plate's profiles). The study
#: never triggers on their updates: a plate is ready for the study when its profiles are, which
#: eager() requests only after the plate's whole wells run has ended. (Triggering on per-well
#: updates started study runs while a 384-well run was still landing, over half a plate.)
BEFORE_PROFILES = dg.AssetSelection.tag(LEVEL_TAG, "well") | dg.AssetSelection.tag(LEVEL_TAG, "plate")

#: The plate-level asset that marks a plate as processed. Study assets that read per-well tables
#: directly (the tensor index, the SQL views) also depend on it, so they follow it.
PLATE_DONE = "well_profiles"

# eager() without "no dep partition missing": a study asset reads every plate there is, so a
# registered plate without profiles must not block it. A missing study asset is built only once
# some dep past the profiles has data (a fresh instance has nothing to summarise: no run, no red
# box). Triggers: a plate's profiles or another study asset updated (or requested in this tick,
# so the study assets of one tick go out as one run).
_EAGER_ANY_PLATE = (
    ((AC.newly_missing() & AC.any_deps_match(~AC.missing()).ignore(BEFORE_PROFILES))
     | AC.any_deps_updated().ignore(BEFORE_PROFILES)).since_last_handled()
    & ~AC.any_deps_in_progress()
    & ~AC.in_progress()
)
# A plate-level dep is about to be requested in this tick: wait for it (Dagster chains requests in
# one tick only within one partitions definition, so the study would otherwise run without it).
_PLATE_DEP_PENDING = AC.any_deps_match(AC.any_deps_updated()).allow(PARTITIONED).with_label("a plate dep is pending")
# Under the daemon a plate's profiles can land after the study was requested without them:
# request again. newly_requested (not newly_updated) resets it, so a failed study run is not
# retried every tick.
_PLATE_DEP_LANDED_SINCE = (AC.any_deps_match(AC.newly_updated())
                           .allow(dg.AssetSelection.tag(LEVEL_TAG, "plate_profiles")).since(AC.newly_requested()))

#: The costly assets under :data:`NIGHTLY`: trained once by ``morph-assets demo`` / ``ingest`` when
#: missing, then only nightly or on request.
NETWORK_ASSETS = ("treatment_classifiers", "vae_model", "crop_network")

# A study input that is itself study-level and has never been built (treatment_profiles when no
# plate got its profiles): the study waits for it. Not the networks: what reads them (the
# embeddings, the report) says when a network has not run, and they are built only on request.
_STUDY_DEP_MISSING = (
    AC.any_deps_match(AC.missing() & ~AC.will_be_requested())
    .ignore(PARTITIONED | dg.AssetSelection.assets(*NETWORK_ASSETS))
    .with_label("a study-level dep was never built")
)

#: Study-level assets over all plates (treatment profiles, mAP report, clusters, report, views).
STUDY = (
    (_EAGER_ANY_PLATE | (_PLATE_DEP_LANDED_SINCE & ~AC.any_deps_in_progress() & ~AC.in_progress()))
    & ~_PLATE_DEP_PENDING
    & ~_STUDY_DEP_MISSING
).with_label("study: after any plate changes")

#: When the networks retrain by themselves: at the first evaluation after 03:00 UTC, only if a
#: dep changed since they were last requested or built. (Not ``on_cron``: that waits until every
#: dep has updated since the tick.)
NIGHTLY_CRON = "0 3 * * *"
NIGHTLY = (
    AC.cron_tick_passed(NIGHTLY_CRON)
    & AC.any_deps_updated().since_last_handled()
    & ~AC.any_deps_in_progress()
    & ~AC.in_progress()
).with_label("nightly at 03:00 UTC if a dep changed")

#: Bump when a network's training changes, so the UI marks it Unsynced (a code-version change).
NETWORK_CODE_VERSION = "1"

automation_sensor = dg.AutomationConditionSensorDefinition(
    "automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=10,
    description="Evaluates every asset's automation condition: a plate's wells follow its plate-level run, "
    "its profiles follow its wells, the study and the SQL views follow any plate; the networks retrain nightly "
    "when something changed.",
)


@dataclass(frozen=True)
class PlannedRun:
    """One run that executes some of an evaluation's requests.

    Attributes
    ----------
    assets : tuple of dagster.AssetKey
        The assets the run materializes.
    level : str
        ``"well"`` (a block of one plate's wells), ``"plate"`` or ``"study"`` (unpartitioned).
    plate : str or None
        The plate of a per-well or plate-level run.
    partition_key : str or None
        The plate of a plate-level run (``None`` otherwise).
    tags : dict of str to str
        The range tags of a per-well run (one run over a box of wells), else empty.
    wells : tuple of str
        The wells of a per-well run, in plate order.
    """

    assets: tuple[dg.AssetKey, ...]
    level: str
    plate: str | None = None
    partition_key: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    wells: tuple[str, ...] = ()


def _well_blocks(wells: Iterable[str]) -> list[tuple[str, ...]]:
    """Split wells into runs of consecutive wells in plate order (A01, A02, ..., A24, B01, ...):
    a range run covers every well between its first and last, so a gap starts a new run."""
    order = sorted(set(wells), key=WELLS_384.index)
    blocks: list[list[str]] = []
    for well in order:
        if blocks and WELLS_384.index(well) == WELLS_384.index(blocks[-1][-1]) + 1:
            blocks[-1].append(well)
        else:
            blocks.append([well])
    return [tuple(block) for block in blocks]


def plan_runs(requested: Mapping[dg.AssetKey, Iterable[str | None]], graph) -> list[PlannedRun]:
    """Group an evaluation's requests into runs as the automation sensor's backfills would.

    Per-well assets: one range run per plate (per block of consecutive wells when the requested
    wells have gaps), holding every per-well asset requested for those wells. Plate-level
    assets: one run per plate. Unpartitioned assets: one run. Runs come in dependency order.

    Parameters
    ----------
    requested : mapping of dagster.AssetKey to iterable of str or None
        Requested partition keys per asset (``"<plate>|<well>"``, ``"<plate>"`` or ``None``), as
        ``EvaluateAutomationConditionsResult.get_requested_partitions`` returns them.
    graph : dagster asset graph
        ``Definitions.resolve_asset_graph()``: partitions definitions and dependency order.

    Returns
    -------
    list of PlannedRun
        Sorted so that a run comes after the runs of its upstream assets.

    Raises
    ------
    ValueError
        If an asset has a partitions definition other than the platform's two.
    """
    per_well: dict[tuple[str, tuple[str, ...]], set[dg.AssetKey]] = defaultdict(set)
    per_plate: dict[str, set[dg.AssetKey]] = defaultdict(set)
    study: set[dg.AssetKey] = set()
    for key, partitions in requested.items():
        partitions = set(partitions)
        if not partitions:
            continue
        partitions_def = graph.get(key).partitions_def
        if partitions_def is None:
            study.add(key)
        elif partitions_def == plate_well_partitions:
            wells_of: dict[str, list[str]] = defaultdict(list)
            for partition in partitions:
                # Barcodes cannot hold "|" (naming.validate_barcode), so the key splits safely.
                plate, well = str(partition).split("|")
                wells_of[plate].append(well)
            for plate, wells in wells_of.items():
                for block in _well_blocks(wells):
                    per_well[(plate, block)].add(key)
        elif partitions_def == plates_partitions:
            for plate in partitions:
                per_plate[str(plate)].add(key)
        else:
            raise ValueError(f"{key.to_user_string()}: partitions {partitions_def} are neither plates nor "
                             "plate x well; add them to morph_assets.defs.automation.plan_runs")
    order = {key: rank for rank, key in enumerate(graph.toposorted_asset_keys)}

    def sorted_keys(keys: set[dg.AssetKey]) -> tuple[dg.AssetKey, ...]:
        return tuple(sorted(keys, key=order.__getitem__))

    runs = [PlannedRun(sorted_keys(keys), "well", plate, None, plate_range_tags(plate, block[0], block[-1]), block)
            for (plate, block), keys in per_well.items()]
    runs += [PlannedRun(sorted_keys(keys), "plate", plate, plate) for plate, keys in per_plate.items()]
    if study:
        runs.append(PlannedRun(sorted_keys(study), "study"))
    # Per-well runs feed plate-level ones, which feed the study: that order holds whatever the toposort.
    levels = {"well": 0, "plate": 1, "study": 2}
    return sorted(runs, key=lambda run: (levels[run.level], order[run.assets[0]], run.plate or "", run.wells))

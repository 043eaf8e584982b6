"""Running the platform from the command line: Dagster runs in-process, their failures in plain words.

``ingest`` registers plate folders as partitions and executes what the automation conditions
request until nothing is left, as the UI's daemon would; every run's failures are reported as
one line per failed well, with where to read the rest.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from morph_assets.lib.schema import ERROR_FILE, ERROR_MESSAGE, ERROR_TABLE, WELL, TableLevel, assets_at
from morph_assets.paths import PROJECT_ROOT, default_lake_root

if TYPE_CHECKING:  # imported for the annotation only: the command starts without lib's imports
    from morph_assets.lib.tasks import WorkerPool


def _say(message: str) -> None:
    print(f"[morph-assets {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _dagster_instance():
    """The persistent Dagster instance in ``$DAGSTER_HOME`` (default ``<project>/.dagster_home``)."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT / ".dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    settings = home / "dagster.yaml"
    if not settings.exists():
        # No outbound network here and none needed: keep Dagster from trying to send telemetry.
        settings.write_text("telemetry:\n  enabled: false\n")
    import dagster as dg

    return dg.DagsterInstance.get()


def _progress_printer(label: str):
    started = time.perf_counter()
    last = [0.0]

    def report(done: int, total: int) -> None:
        now = time.perf_counter()
        if done == total or now - last[0] >= 5:
            last[0] = now
            rate = done / max(now - started, 1e-9)
            _say(f"{label}: {done}/{total} wells ({100 * done // max(total, 1)}%), ~{(total - done) / max(rate, 1e-9):.0f} s left")

    return report

#: Where a terminal line sends the reader for the full story of a failed run.
SEE_RUN = "full log: the run's page in the Dagster UI, `make ui`"

#: Where a terminal line sends the reader for every failed well.
SEE_ERRORS = "all failures: `morph-assets sql \"select * from errors\"`"

#: At most this many failed wells are listed per plate; the rest are counted.
MAX_WELL_LINES = 20


@dataclass
class RunOutcome:
    """One run the command launched: what it was for, its id, and why it failed (if it did).

    Attributes
    ----------
    label : str
        ``"plate-level"``, ``"wells"``, ``"profiles"``, ``"study"``, ``"views"`` or
        ``"Cellpose training"``.
    plate : str or None
        The plate of a per-plate run.
    run_id : str
        The Dagster run id (the run's page in the UI).
    failures : dict of str to list of str
        One-line reason -> the steps (assets) that failed with it; empty when the run succeeded.
    success : bool
        Whether Dagster reports the run as successful.
    """

    label: str
    plate: str | None
    run_id: str
    failures: dict[str, list[str]] = field(default_factory=dict)
    success: bool = True


@dataclass
class IngestReport:
    """Every run of one ``ingest`` call and the plates whose chain went through."""

    runs: list[RunOutcome] = field(default_factory=list)
    completed_plates: list[str] = field(default_factory=list)

    @property
    def failed_runs(self) -> list[RunOutcome]:
        """The runs that failed."""
        return [run for run in self.runs if not run.success]


def _user_message(error) -> str:
    """The message of the first exception in a Dagster error's cause chain that is not Dagster's
    own wrapper ("Error occurred while executing op ..."): the one the asset's code raised, which
    names the file, not the library error it was raised from."""
    while error.cause is not None and (error.cls_name or "").startswith("Dagster"):
        error = error.cause
    return error.message


def run_failures(result) -> dict[str, list[str]]:
    """Why a Dagster run failed, one line per distinct reason, with the steps that failed with it.

    Parameters
    ----------
    result : dagster.ExecuteInProcessResult
        A finished run.

    Returns
    -------
    dict of str to list of str
        Reason -> failed step keys, in the order the steps failed. The reason is the step's
        ``dg.Failure`` description when it raised one (the words the UI shows), the failed
        blocking checks' descriptions when a blocking check stopped it, else the asset code's
        exception's ``"<Type>: <message>"``; whitespace runs become one space. Empty for a
        successful run.
    """
    import dagster as dg

    from morph_assets.lib.tasks import one_line

    failed_checks: dict[str, list[str]] = defaultdict(list)
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            if not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR:
                failed_checks[event.step_key].append(
                    f"check {evaluation.check_name} of {evaluation.asset_key.to_user_string()} failed: "
                    f"{evaluation.description or 'see its metadata in the Dagster UI'}")
    reasons: dict[str, list[str]] = {}
    for event in result.all_events:
        if not event.is_step_failure:
            continue
        data = event.step_failure_data
        if data.user_failure_data is not None and data.user_failure_data.description:
            reason = data.user_failure_data.description
        elif (data.error is not None and data.error.cls_name == "DagsterAssetCheckFailedError"
              and failed_checks[event.step_key]):
            reason = "; ".join(failed_checks[event.step_key])
        elif data.error is not None:
            reason = _user_message(data.error)
        else:
            reason = "the step failed"
        reasons.setdefault(one_line(reason), []).append(event.step_key)
    if not reasons and not result.success:
        reasons["the run failed before any step did"] = []
    return reasons


def _terminal_logger():
    """A Dagster logger for the command line: one line per step started and per asset message.

    Dagster's default console logger prints every framework event and each step failure with
    its stack trace. On the terminal the command prints the failures itself (one line each,
    after the run); the full event log, tracebacks included, stays in the Dagster instance for
    the UI, whatever the loggers.
    """
    import logging

    import dagster as dg

    class OneLineHandler(logging.Handler):
        def __init__(self, threshold: str) -> None:
            super().__init__(level=logging.DEBUG)  # step starts are DEBUG events: filter in emit
            self.threshold = logging.getLevelName(threshold)

        def emit(self, record: logging.LogRecord) -> None:
            meta = getattr(record, "dagster_meta", None) or {}
            event = meta.get("dagster_event")
            step = meta.get("step_key") or ""
            if event is not None:
                # Of the framework's events only "step started" shows, so a long step is visibly alive.
                if event.event_type == dg.DagsterEventType.STEP_START:
                    _say(f"  {step}")
                return
            if record.levelno < self.threshold or record.levelno >= logging.ERROR:
                return  # the assets' error lines come back as the command's failure report
            lines = str(meta.get("orig_message", record.getMessage())).strip().splitlines()
            _say(f"  {step}: {lines[0] if lines else ''}")

    @dg.logger(
        config_schema={"log_level": dg.Field(str, is_required=False, default_value="WARNING",
                                             description="Lowest level of the assets' own messages shown.")},
        description="The command line's logger: step starts and the assets' messages, one line each.",
    )
    def terminal(init_context: dg.InitLoggerContext) -> logging.Logger:
        logger = logging.Logger("morph_assets.terminal", level=logging.DEBUG)
        logger.addHandler(OneLineHandler(init_context.logger_config["log_level"]))
        return logger

    return terminal


def _run(report: IngestReport, label: str, plate: str | None, job, **execute) -> bool:
    """Execute ``job`` in process with the terminal logger, record it, print its failures."""
    result = job.with_logger_defs({"console": _terminal_logger()}).execute_in_process(raise_on_error=False, **execute)
    outcome = RunOutcome(label, plate, result.run_id, run_failures(result), result.success)
    report.runs.append(outcome)
    where = f"plate {plate}: " if plate else ""
    for reason, steps in outcome.failures.items():
        _say(f"FAILED {where}{label} run, {', '.join(steps) or 'run'}: {reason} (run {outcome.run_id}; {SEE_RUN})")
    return outcome.success


def _report_failed_wells(plate: str, run_id: str | None) -> None:
    """Print the failed wells of ``plate`` on record: one line per stage, file and reason (the
    wells it hit listed on the line), each well at its first failing stage in pipeline order."""
    from morph_assets.defs.well_runs import file_note
    from morph_assets.lib.io import Lake

    errors = Lake(default_lake_root()).read_errors(plate)
    if errors.is_empty():
        return
    # A well that failed early is recorded again by each later stage ("no masks for this well
    # yet"): its first stage in pipeline order holds the cause.
    order = {table: rank for rank, table in enumerate(assets_at(TableLevel.WELL))}
    errors = errors.with_columns(pl.col(ERROR_TABLE).replace_strict(order, default=len(order)).alias("rank"))
    firsts = pl.concat([
        errors.filter(pl.col(WELL).is_not_null()).sort("rank", ERROR_FILE).unique(WELL, keep="first"),
        errors.filter(pl.col(WELL).is_null()),
    ])
    groups = (
        firsts.group_by("rank", ERROR_TABLE, ERROR_FILE, ERROR_MESSAGE)
        .agg(pl.col(WELL).drop_nulls().sort())
        .sort("rank", pl.col(WELL).list.first(), ERROR_FILE, nulls_last=True)
    )
    run = f"run {run_id}; " if run_id else ""
    for number, row in enumerate(groups.iter_rows(named=True)):
        if number == MAX_WELL_LINES:
            _say(f"FAILED plate {plate}: {groups.height - MAX_WELL_LINES} more line(s) ({SEE_ERRORS})")
            break
        wells = row[WELL]
        if not wells:
            what = "a file in no well"
        else:
            what = f"well {wells[0]}" if len(wells) == 1 else f"{len(wells)} wells {', '.join(wells)}"
        stage, file, error = row[ERROR_TABLE], row[ERROR_FILE], row[ERROR_MESSAGE]
        _say(f"FAILED plate {plate} {what}, {stage}{file_note(file, error)}: {error} ({run}{SEE_ERRORS})")

#: Run tag naming what a run of the command was for (``plate-level``, ``wells``, ``profiles``, ...).
CLI_RUN_TAG = "morph_assets/cli_run"

#: Evaluations of the automation conditions after which the command gives up (each one launches
#: runs; a plate set settles in about four).
MAX_EVALUATIONS = 30


def _evaluate(defs, instance, cursor):
    """One evaluation of every automation condition, without Dagster's per-evaluation notes on
    the terminal (e.g. "has 768 updated partitions ... Using tick timestamp as fallback")."""
    import logging

    import dagster as dg

    dagster_logger = logging.getLogger("dagster")
    level = dagster_logger.level
    dagster_logger.setLevel(logging.ERROR)
    try:
        return dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
    finally:
        dagster_logger.setLevel(level)


def _with_downstream(graph, keys: set, keep) -> set:
    """``keys`` and every asset downstream of them for which ``keep(key)`` holds, through such assets."""
    found, stack = set(keys), list(keys)
    while stack:
        for child in graph.get(stack.pop()).child_keys:
            if child not in found and keep(child):
                found.add(child)
                stack.append(child)
    return found


def _networks_to_build(instance, graph, study: set, names: Sequence[str]) -> set:
    """The networks never built whose inputs all exist or are in the ``study`` run; none unless
    every network can be built (a plate set without profiles trains nothing)."""
    import dagster as dg

    def present(key) -> bool:
        return key in study or instance.get_latest_materialization_event(key) is not None

    keys = {dg.AssetKey(name) for name in names}
    if not all(present(parent) for key in keys for parent in graph.get(key).parent_keys):
        return set()
    return {key for key in keys if instance.get_latest_materialization_event(key) is None}


def _run_label(run) -> str:
    """What a planned run is for, in the words the command prints."""
    if run.level == "well":
        return "wells"
    if run.level == "plate":
        return "profiles"
    return "views" if all(key.path[0] == "sql" for key in run.assets) else "study"


def _announce(run, label: str, plates: Sequence[str]) -> None:
    from morph_assets.lib.plates import WELLS_384

    if run.plate is not None:
        where = f"plate {run.plate}"
        if run.plate in plates:
            where += f" ({plates.index(run.plate) + 1}/{len(plates)})"
        if label == "wells":
            span = "the plate" if run.wells == tuple(WELLS_384) else f"wells {run.wells[0]}..{run.wells[-1]}"
            _say(f"{where}: well-level assets, one run over {span}")
        else:
            _say(f"{where}: {label}")
    elif label == "views":
        _say(f"SQL views ({len(run.assets)})")
    else:
        names = [key.to_user_string() for key in run.assets if key.path[0] != "sql"]
        views = len(run.assets) - len(names)
        _say(f"study-level assets over every plate in the lake: {', '.join(names)}"
             + (f" and {views} SQL view(s)" if views else ""))


def ingest(
    plates: Sequence[str], *, workers: int | None = None, segmenter: str = "classical", log_level: str = "WARNING",
    pool: WorkerPool | None = None,
) -> IngestReport:
    """Register ``plates`` as partitions, run their plate-level assets, then let the automation
    conditions bring everything downstream up to date, as ``dagster dev`` would.

    The same definitions as the UI: after each plate's plate-level run, the assets' automation
    conditions are evaluated in process (``dagster.evaluate_automation_conditions``) and what
    they request is executed (one run per plate for the per-well assets, one per plate for its
    profiles, then one study run), until nothing more is requested. A plate whose run fails
    stops there (its later runs are skipped). Study-level requests wait until no plate run is
    pending, so the study runs once over every plate. The networks (classifiers, VAE) are trained
    in the study run when they have never been built; afterwards they retrain nightly or on
    request (``study_job`` in the UI). Failures are printed one line each (plate, well, file,
    reason, where to see more); Dagster's stack traces stay in the instance's event log for the
    UI. With ``segmenter="cellpose"`` the Cellpose models are trained first if the lake has none.
    ``log_level`` is the lowest level of the assets' own messages shown on the terminal.
    ``pool``, when given, replaces the ``worker_pool`` resource in every run, so the per-well
    steps of every run share its warm workers; otherwise each run starts and stops its own.

    Returns
    -------
    IngestReport
        Every run launched, with its failures, and the plates none of whose runs failed.
    """
    import dagster as dg

    from morph_assets.definitions import build_definitions
    from morph_assets.definitions import defs as platform_defs
    from morph_assets.defs.automation import NETWORK_ASSETS, PlannedRun, plan_runs
    from morph_assets.defs.partitions import plates_partitions
    from morph_assets.lib.plates import NamingError, validate_barcode

    for plate in plates:
        try:
            validate_barcode(plate)
        except NamingError as error:  # before anything is registered: the message says what to rename
            raise SystemExit(f"morph-assets ingest: {error}") from error
    # The UI's definitions, with the caller's pool in place of one per run when it gives one.
    defs = platform_defs if pool is None else build_definitions(worker_pool=pool)
    instance = _dagster_instance()
    graph = defs.resolve_asset_graph()
    # A first evaluation before anything changes: a fresh cursor forgets what happened before it,
    # so without this baseline the runs below would look like old news and request nothing.
    cursor = _evaluate(defs, instance, None).cursor
    known = set(instance.get_dynamic_partitions(plates_partitions.name))
    new = [plate for plate in plates if plate not in known]
    if new:
        instance.add_dynamic_partitions(plates_partitions.name, new)
        _say(f"registered plate partition(s): {', '.join(new)}")
    base_config: dict = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    if workers:
        base_config["resources"] = {"lake": {"config": {"workers": workers}}}
    report = IngestReport()

    def execute(label: str, plate: str | None, job, **arguments) -> bool:
        tags = {**arguments.pop("tags", {}), CLI_RUN_TAG: label}
        return _run(report, label, plate, job, instance=instance, tags=tags, **arguments)

    if segmenter == "cellpose" and not (default_lake_root() / "models" / "cellpose" / "cells").exists():
        _say("training the Cellpose models (segmentation_model; a few CPU minutes)")
        training = defs.resolve_job_def("segmentation_model_job")
        if not execute("Cellpose training", None, training, run_config=base_config):
            return report
    stopped: set[str] = set()

    def stop(plate: str) -> None:
        stopped.add(plate)
        _say(f"plate {plate}: its remaining runs are skipped")

    for number, plate in enumerate(plates, start=1):
        _say(f"plate {plate} ({number}/{len(plates)}): plate-level assets")
        plate_job = defs.resolve_job_def("plate_job")
        if not execute("plate-level", plate, plate_job, partition_key=plate, run_config=base_config):
            stop(plate)
    waiting: set[dg.AssetKey] = set()  # study-level requests held until no plate run is pending
    plate_runs_last = False  # the last evaluation launched per-plate runs
    networks_added = study_ran = False
    for _ in range(MAX_EVALUATIONS):
        result = _evaluate(defs, instance, cursor)
        cursor = result.cursor
        requested = {key: result.get_requested_partitions(key) for key in graph.get_all_asset_keys()
                     if result.get_num_requested(key)}
        runs = [run for run in plan_runs(requested, graph) if run.plate not in stopped]
        plate_runs = [run for run in runs if run.level != "study"]
        waiting |= {key for run in runs if run.level == "study" for key in run.assets}
        if plate_runs or (waiting and plate_runs_last):
            # Study requests join the next evaluation's: one after the last plate runs, the study
            # assets that waited for them (a plate dep pending) are requested too.
            plate_runs_last = bool(plate_runs)
            if not plate_runs:
                continue
        elif waiting:
            # The views over requested views too: held back, their inputs were not built when they
            # were last evaluated, so the next evaluation would request them in a run of their own.
            keys = _with_downstream(graph, waiting, lambda key: key.path[0] == "sql")
            if not networks_added:  # never-built networks are trained once, with the study
                networks_added = True
                networks = _networks_to_build(instance, graph, keys, NETWORK_ASSETS)
                keys |= _with_downstream(graph, networks, lambda key: graph.get(key).partitions_def is None)
            order = {key: rank for rank, key in enumerate(graph.toposorted_asset_keys)}
            plate_runs = [PlannedRun(tuple(sorted(keys, key=order.__getitem__)), "study")]
            waiting = set()
        else:
            break
        for run in plate_runs:
            if run.plate in stopped:
                continue
            label = _run_label(run)
            _announce(run, label, plates)
            run_config = dict(base_config)
            if dg.AssetKey("masks") in run.assets:  # op config only for a selected op
                run_config["ops"] = {"masks": {"config": {"method": segmenter}}}
            succeeded = execute(label, run.plate, defs.resolve_implicit_job_def_def_for_assets(run.assets),
                                asset_selection=list(run.assets), partition_key=run.partition_key, tags=dict(run.tags),
                                run_config=run_config)
            study_ran = study_ran or run.level == "study"
            if label == "wells":
                _report_failed_wells(run.plate, report.runs[-1].run_id)
            if not succeeded and run.plate is not None:
                stop(run.plate)
    else:
        _say(f"the automation still requests runs after {MAX_EVALUATIONS} evaluations; stopped here "
             "(see the automation's evaluations in the Dagster UI)")
    report.completed_plates = [plate for plate in plates if plate not in stopped]
    if not study_ran and not report.completed_plates:
        _say("study-level assets skipped: no plate got through its runs")
    return report

"""The mAP report: replicate retrieval of every representation in every setting the study used.

Settings: pooled (any other replicate), same well position only, different well position only,
each by CPJUMP1's meaning (same well on replicate plates) and, for the split settings, by the
study's (well distance below the 10th percentile of non-zero distances); at image level (as the
study) and at well level (as CPJUMP1); un-normalised (as the study) and DMSO-normalised with
feature selection (as the field).

Every cell of the grid gets a summary row. A setting without replicates (one plate has no "same
well on another plate"; one site per well and no duplicated compound have no replicate at all) is a
normal outcome of a small study: its row says ``"no replicate pairs"`` with the counts that explain
it, and its scores are null.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields

import polars as pl

from morph_assets.lib.profiles import drop_incomplete_rows
from morph_assets.lib.retrieval._average_precision import UnpairedError, fraction_retrieved, zero_norm_rows
from morph_assets.lib.retrieval._replicates import replicate_retrieval
from morph_assets.lib.schema import (
    CONTROL_TYPE,
    NEGATIVE_CONTROL,
    NORMALIZATION,
    PERT_INAME,
    PLATE,
    TARGET_LIST,
    TREATMENT,
    WELL,
)


@dataclass(frozen=True)
class RetrievalSetting:
    """One cell of the report's grid.

    Attributes
    ----------
    position_filter : str
        ``"pooled"``, ``"same"`` or ``"different"``: which replicate pairs count by plate position.
    position_definition : str
        ``"cpjump1"`` or ``"study"``: what counts as the same position.
    """

    position_filter: str  # "pooled", "same" or "different"
    position_definition: str  # "cpjump1" or "study"

    @property
    def label(self) -> str:
        """Short readable name, e.g. ``same (cpjump1)``."""
        return self.position_filter if self.position_filter == "pooled" else f"{self.position_filter} ({self.position_definition})"


#: Pooled once; the split settings by both definitions.
DEFAULT_SETTINGS: tuple[RetrievalSetting, ...] = (
    RetrievalSetting("pooled", "cpjump1"),
    RetrievalSetting("same", "cpjump1"),
    RetrievalSetting("different", "cpjump1"),
    RetrievalSetting("same", "study"),
    RetrievalSetting("different", "study"),
)


#: What each setting calls a replicate (a positive pair), for the "no replicate pairs" reason.
SETTING_POSITIVES = {
    "pooled": "another profile of the same treatment (another site of the well, another well, another plate)",
    "same (cpjump1)": "the same treatment in the same well of another plate",
    "different (cpjump1)": "the same treatment in another well",
    "same (study)": "the same treatment within the 10th percentile of well distances (one well's sites included)",
    "different (study)": "the same treatment beyond the 10th percentile of well distances",
}
#: ``RetrievalRun.status`` values.
SCORED = "scored"
NO_REPLICATE_PAIRS = "no replicate pairs"
NO_NEGATIVE_CONTROLS = "no negative controls"
NO_FEATURES = "no usable features"
NO_PROFILES = "no complete profiles"
#: Columns of the per-treatment table, also when nothing was scored (the SQL views need them).
PER_TREATMENT_SCHEMA = {
    TREATMENT: pl.String, "n_profiles": pl.UInt32, "mean_average_precision": pl.Float64, "p_value": pl.Float64,
    "corrected_p_value": pl.Float64, "below_p": pl.Boolean, "below_corrected_p": pl.Boolean,
    PERT_INAME: pl.String, TARGET_LIST: pl.String, "representation": pl.String,
    "level": pl.String, "normalization": pl.String, "setting": pl.String,
}
REQUIRED_METADATA = (TREATMENT, PLATE, WELL, CONTROL_TYPE)


@dataclass(frozen=True)
class RetrievalRun:
    """Summary of one retrieval: what was scored and how well, or why nothing was.

    Attributes
    ----------
    representation, level, normalization : str
        Which profiles were scored.
    setting, position_filter, position_definition : str
        The :class:`RetrievalSetting`, by label and by its two fields.
    status : str
        ``"scored"`` or the reason nothing was (``"no replicate pairs"``, ``"no negative
        controls"``, ``"no usable features"``, ``"no complete profiles"``).
    reason : str or None
        The status spelled out with the counts; None when scored.
    n_features, n_profiles, n_rows_dropped, n_controls : int
        Features and profiles used, incomplete rows dropped, negative controls.
    n_queries : int
        Treated profiles.
    n_queries_scored : int
        Those with an AP (a replicate and a control to rank against).
    n_replicate_pairs : int
        Unordered positive pairs.
    n_zero_norm : int
        Profiles left out of the ranking because every feature is 0 (see
        :mod:`morph_assets.lib.retrieval`).
    n_treatments : int
        Treatments with a mAP.
    mean_ap, mean_map, fraction_retrieved : float or None
        The scores; null when nothing was scored.
    seconds : float
        Wall time.
    """

    representation: str
    level: str
    normalization: str
    setting: str
    position_filter: str
    position_definition: str
    status: str
    reason: str | None
    n_features: int
    n_profiles: int
    n_rows_dropped: int
    n_controls: int
    n_queries: int
    n_queries_scored: int
    n_replicate_pairs: int
    n_zero_norm: int
    n_treatments: int
    mean_ap: float | None
    mean_map: float | None
    fraction_retrieved: float | None
    seconds: float


def _unscored(status: str, reason: str, **fields: object) -> RetrievalRun:
    """A summary row for a setting that could not be scored, with its counts."""
    defaults = dict(n_queries_scored=0, n_replicate_pairs=0, n_treatments=0, mean_ap=None, mean_map=None,
                    fraction_retrieved=None, seconds=0.0)
    return RetrievalRun(status=status, reason=reason, **{**defaults, **fields})  # type: ignore[arg-type]


def score_profiles(
    profiles: pl.DataFrame,
    features: Sequence[str],
    *,
    representation: str,
    level: str,
    settings: Sequence[RetrievalSetting] = DEFAULT_SETTINGS,
    null_size: int = 10000,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> tuple[list[RetrievalRun], pl.DataFrame]:
    """Replicate retrieval of one profile set (one representation, level, normalisation).

    Rows with a missing or infinite feature are dropped first (counted in ``n_rows_dropped``).
    Every setting gets a summary row: a setting where no treatment has a replicate (one plate
    and "same well on another plate"; one site per well and no duplicated compound) is reported
    with status ``"no replicate pairs"`` and its counts, not left out; so is a set without
    controls, features or complete rows.

    Parameters
    ----------
    profiles : pl.DataFrame
        Profiles of one ``Metadata_Normalization`` with ``Metadata_treatment``,
        ``Metadata_Plate``, ``Metadata_Well`` and ``Metadata_control_type`` (``"negcon"`` marks
        the negative controls); ``Metadata_pert_iname`` and ``Metadata_target_list`` are carried
        into the per-treatment table when present.
    features : sequence of str
        Feature columns to compare (cosine similarity).
    representation, level : str
        Recorded in the output.
    settings : sequence of RetrievalSetting
        Which positions count as replicates.
    null_size, seed : int
        Permutation null of the p-values (copairs' method).
    log : callable, optional
        Receives one line per setting.

    Returns
    -------
    tuple of (list of RetrievalRun, pl.DataFrame)
        One summary per setting, and the per-treatment mAP table of the scored settings (columns
        :data:`PER_TREATMENT_SCHEMA`; empty with those columns when none was scored).

    Raises
    ------
    ValueError
        If a required metadata column or a named feature column is missing.
    """
    missing = [c for c in (*REQUIRED_METADATA, *features) if c not in profiles.columns]
    if missing:
        raise ValueError(f"{representation}/{level} profiles lack column(s) {missing[:5]}; "
                         "build them with profile_sets.plate_profiles")
    normalization = profiles[NORMALIZATION][0] if NORMALIZATION in profiles.columns and profiles.height else "none"
    complete, dropped = drop_incomplete_rows(profiles, features)
    is_control = complete[CONTROL_TYPE].eq(NEGATIVE_CONTROL).fill_null(False)
    treated = complete.filter(~is_control)
    per_treatment_max = int(treated[TREATMENT].value_counts()["count"].max() or 0) if treated.height else 0
    zero = int(zero_norm_rows(complete.select(pl.col(list(features)).cast(pl.Float64)).to_numpy()).sum()) \
        if features and complete.height else 0
    counts = dict(representation=representation, level=level, normalization=normalization,
                  n_features=len(features), n_profiles=complete.height, n_rows_dropped=dropped,
                  n_controls=int(is_control.sum()), n_queries=treated.height, n_zero_norm=zero)
    facts = (f"{treated.height} treated profiles of {treated[TREATMENT].n_unique()} treatments (at most "
             f"{per_treatment_max} per treatment) and {counts['n_controls']} controls on "
             f"{complete[PLATE].n_unique()} plate(s)")
    optional = [c for c in (PERT_INAME, TARGET_LIST) if c in complete.columns]
    names = complete.select(TREATMENT, *optional).unique(TREATMENT)
    runs, tables = [], []
    for setting in settings:
        where = dict(setting=setting.label, position_filter=setting.position_filter,
                     position_definition=setting.position_definition, **counts)
        if not features or complete.height == 0:
            status = NO_FEATURES if not features else NO_PROFILES
            run = _unscored(status, f"{len(features)} usable features, {complete.height} complete rows "
                            f"({dropped} dropped for a missing value)", **where)
        else:
            run, map_table = _score_setting(complete, list(features), setting, where, facts, null_size, seed)
            if map_table is not None:
                tables.append(map_table.join(names, on=TREATMENT, how="left").with_columns(
                    pl.lit(representation).alias("representation"), pl.lit(level).alias("level"),
                    pl.lit(normalization).alias("normalization"), pl.lit(setting.label).alias("setting")))
        runs.append(run)
        if log:
            log(f"{representation}/{level}/{normalization}/{setting.label}: " + (
                f"mAP {run.mean_map:.3f}, retrieved {run.fraction_retrieved:.0%} of {run.n_treatments} "
                f"({run.seconds:.1f} s)" if run.status == SCORED else f"not scored, {run.status}: {run.reason}"))
    per_treatment = pl.concat([pl.DataFrame(schema=PER_TREATMENT_SCHEMA), *tables], how="diagonal_relaxed")
    return runs, per_treatment.select(list(PER_TREATMENT_SCHEMA))


def _score_setting(
    complete: pl.DataFrame, features: list[str], setting: RetrievalSetting, where: dict, facts: str,
    null_size: int, seed: int,
) -> tuple[RetrievalRun, pl.DataFrame | None]:
    """One setting's retrieval: the summary row, and the per-treatment table when scored."""
    started = time.perf_counter()
    filter_ = None if setting.position_filter == "pooled" else setting.position_filter
    try:
        ap_table, map_table = replicate_retrieval(
            complete, features, compound_col=TREATMENT, position_filter=filter_,
            position_definition=setting.position_definition, null_size=null_size, seed=seed,
        )
    except UnpairedError as error:
        if error.kind == "negative":
            return _unscored(NO_NEGATIVE_CONTROLS, f"no negative control (negcon) to rank against: {facts}",
                             **where), None
        wanted = SETTING_POSITIVES.get(setting.label, "another profile of the same treatment")
        return _unscored(NO_REPLICATE_PAIRS, f"no treated profile has {wanted}: {facts}", **where), None
    scored = ap_table.filter(pl.col("average_precision").is_not_null())
    pairs = int(ap_table["n_pos_pairs"].sum()) // 2  # each unordered pair is counted by both its queries
    if scored.height == 0:
        return _unscored(NO_NEGATIVE_CONTROLS, f"the {int((ap_table['n_pos_pairs'] > 0).sum())} treated profiles "
                         f"with a replicate have no control on their plate: {facts}",
                         **{**where, "n_replicate_pairs": pairs}), None
    run = RetrievalRun(
        status=SCORED, reason=None, n_queries_scored=scored.height, n_replicate_pairs=pairs,
        n_treatments=map_table.height, mean_ap=float(scored["average_precision"].mean()),
        mean_map=float(map_table["mean_average_precision"].mean()), fraction_retrieved=fraction_retrieved(map_table),
        seconds=round(time.perf_counter() - started, 2), **where,
    )
    return run, map_table


def runs_table(runs: Sequence[RetrievalRun]) -> pl.DataFrame:
    """The summary rows as a table (one row per representation, level, normalisation, setting).

    Parameters
    ----------
    runs : sequence of RetrievalRun
        Summaries from :func:`score_profiles`.

    Returns
    -------
    pl.DataFrame
        One column per :class:`RetrievalRun` field, typed even when ``runs`` is empty or every
        score is null.
    """
    schema = {field.name: _FIELD_TYPES[field.type] for field in fields(RetrievalRun)}
    return pl.DataFrame([asdict(run) for run in runs], schema=schema)


_FIELD_TYPES = {"str": pl.String, "str | None": pl.String, "int": pl.Int64, "float": pl.Float64,
                "float | None": pl.Float64}


def summary_pivot(summary: pl.DataFrame) -> pl.DataFrame:
    """Pivot the mAP summary: one row per representation, level and normalisation, one column per setting.

    Parameters
    ----------
    summary : polars.DataFrame
        The report's summary, one row per :class:`RetrievalRun`.

    Returns
    -------
    polars.DataFrame
        Each cell ``"mAP (fraction retrieved %)"``, or the status of a setting that could not be
        scored (e.g. ``"no replicate pairs"``).
    """
    cells = summary.with_columns(
        pl.when(pl.col("status") == SCORED).then(
            pl.col("mean_map").round(3).cast(pl.String) + " (" + (100 * pl.col("fraction_retrieved")).round(0)
            .cast(pl.Int64).cast(pl.String) + "%)").otherwise(pl.col("status")).alias("cell"))
    return cells.pivot(on="setting", index=["representation", "level", "normalization"], values="cell").sort(
        ["representation", "level", "normalization"])

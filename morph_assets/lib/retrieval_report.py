"""The mAP report: replicate retrieval of every representation in every setting the study used.

Settings: pooled (any other replicate), same well position only, different well position only,
each by CPJUMP1's meaning (same well on replicate plates) and, for the split settings, by the
study's (well distance below the 10th percentile of non-zero distances); at image level (as the
study) and at well level (as CPJUMP1); un-normalised (as the study) and DMSO-normalised with
feature selection (as the field).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from morph_assets.lib.metrics import fraction_retrieved, replicate_retrieval  # noqa: E402
from morph_assets.lib.plots import figure_png  # noqa: E402
from morph_assets.lib.profile_sets import NORMALIZATION, TREATMENT, drop_incomplete_rows  # noqa: E402


@dataclass(frozen=True)
class RetrievalSetting:
    """One cell of the report's grid."""

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


@dataclass(frozen=True)
class RetrievalRun:
    """Summary of one retrieval: what was scored and how well."""

    representation: str
    level: str
    normalization: str
    setting: str
    position_filter: str
    position_definition: str
    n_features: int
    n_profiles: int
    n_rows_dropped: int
    n_treatments: int
    mean_ap: float
    mean_map: float
    fraction_retrieved: float
    seconds: float


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

    Parameters
    ----------
    profiles : pl.DataFrame
        Profiles of one ``Metadata_Normalization`` with ``Metadata_treatment`` and control type.
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
        One summary per setting, and the per-treatment mAP table of every setting (with the
        settings' columns, ``Metadata_pert_iname`` and ``Metadata_target_list``).
    """
    normalization = profiles[NORMALIZATION][0] if NORMALIZATION in profiles.columns and profiles.height else "none"
    complete, dropped = drop_incomplete_rows(profiles, features)
    names = complete.select(TREATMENT, "Metadata_pert_iname", "Metadata_target_list").unique(TREATMENT)
    runs, tables = [], []
    if not features or complete.height == 0:
        if log:
            log(f"{representation}/{level}/{normalization}: not scored ({len(features)} features, {complete.height} rows)")
        return runs, pl.DataFrame()
    for setting in settings:
        started = time.perf_counter()
        filter_ = None if setting.position_filter == "pooled" else setting.position_filter
        try:
            ap_table, map_table = replicate_retrieval(
                complete, list(features), compound_col=TREATMENT, position_filter=filter_,
                position_definition=setting.position_definition, null_size=null_size, seed=seed,
            )
        except ValueError as error:  # e.g. no replicate pair in this setting (one plate, "same")
            if log:
                log(f"{representation}/{level}/{normalization}/{setting.label}: not scored ({error})")
            continue
        map_table = map_table.join(names, on=TREATMENT, how="left").with_columns(
            pl.lit(representation).alias("representation"), pl.lit(level).alias("level"),
            pl.lit(normalization).alias("normalization"), pl.lit(setting.label).alias("setting"),
        )
        run = RetrievalRun(
            representation=representation, level=level, normalization=normalization, setting=setting.label,
            position_filter=setting.position_filter, position_definition=setting.position_definition,
            n_features=len(features), n_profiles=complete.height, n_rows_dropped=dropped,
            n_treatments=map_table.height,
            mean_ap=float(ap_table["average_precision"].drop_nulls().mean() or float("nan")),
            mean_map=float(map_table["mean_average_precision"].mean() or float("nan")),
            fraction_retrieved=fraction_retrieved(map_table), seconds=round(time.perf_counter() - started, 2),
        )
        runs.append(run)
        tables.append(map_table)
        if log:
            log(f"{representation}/{level}/{normalization}/{setting.label}: mAP {run.mean_map:.3f}, "
                f"retrieved {run.fraction_retrieved:.0%} of {run.n_treatments} ({run.seconds:.1f} s)")
    per_treatment = pl.concat(tables, how="diagonal_relaxed") if tables else pl.DataFrame()
    return runs, per_treatment


def runs_table(runs: Sequence[RetrievalRun]) -> pl.DataFrame:
    """The summary rows as a table (one row per representation, level, normalisation, setting)."""
    return pl.DataFrame([asdict(run) for run in runs])


def map_scatter_png(per_treatment: pl.DataFrame, *, title: str, threshold: float = 0.05) -> bytes:
    """mAP against -log10 p-value per treatment, retrieved treatments (q < threshold) highlighted.

    Parameters
    ----------
    per_treatment : pl.DataFrame
        One setting's per-treatment table (``mean_average_precision``, ``p_value``,
        ``below_corrected_p``).
    title : str
        Figure title.
    threshold : float
        Significance level drawn as a line.

    Returns
    -------
    bytes
        PNG image.
    """
    figure, axes = plt.subplots(figsize=(5.2, 4), dpi=90)
    if per_treatment.height:
        x = per_treatment["mean_average_precision"].to_numpy()
        y = -np.log10(per_treatment["p_value"].to_numpy())
        hit = per_treatment["below_corrected_p"].to_numpy()
        axes.scatter(x[~hit], y[~hit], s=10, c="0.6", label="not retrieved")
        axes.scatter(x[hit], y[hit], s=12, c="tab:red", label=f"retrieved (q < {threshold})")
        axes.axhline(-np.log10(threshold), color="0.3", lw=0.8, ls="--")
        axes.legend(fontsize=7, loc="lower right")
    axes.set_xlabel("mAP", fontsize=8)
    axes.set_ylabel("-log10 p", fontsize=8)
    axes.set_title(title, fontsize=9)
    figure.tight_layout()
    return figure_png(figure)

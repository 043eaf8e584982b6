"""How much of the planted biology a representation recovers, on generated plates.

The generator (:func:`morph_assets.lib.synthetic.compound_phenotypes`) gives every compound a
true phenotype vector ``true_0 .. true_{K-1}`` (norm ``activity``; 0 for an inactive compound).
A representation recovers the biology when compounds that the generator made alike have alike
profiles: the Pearson (and Spearman) correlation, over every pair of active compounds (upper
triangle, each pair once), between the cosine similarity of their treatment profiles and the
cosine similarity of their true vectors. Inactive compounds have no direction and are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from scipy import stats

from morph_assets.lib.retrieval._average_precision import checked_features
from morph_assets.lib.schema import BROAD_SAMPLE, PERT_INAME, TREATMENT

#: Column of the truth table with a compound's strength (0 = inactive).
ACTIVITY = "activity"
#: Prefix of the truth table's phenotype-vector columns.
TRUE_PREFIX = "true_"
#: Where a generated plate folder keeps every compound's true phenotype (real plates have none).
TRUTH_FILE = "GroundTruth/compound_phenotypes.tsv"


def read_truth(plate_folders: Sequence[Path]) -> pl.DataFrame | None:
    """The generator's compound phenotypes from the first plate folder that has them.

    Parameters
    ----------
    plate_folders : sequence of Path
        Source folders of the plates (every generated plate holds the same table).

    Returns
    -------
    pl.DataFrame or None
        ``compound_phenotypes.tsv`` as written by the generator; None when no folder has it.
    """
    for folder in plate_folders:
        path = Path(folder) / TRUTH_FILE
        if path.exists():
            return pl.read_csv(path, separator="\t", infer_schema_length=10000)
    return None


@dataclass(frozen=True)
class TruthCorrelation:
    """Agreement of profile similarities with the generator's true phenotype similarities.

    Attributes
    ----------
    n_compounds : int
        Active compounds with both a profile and a true vector.
    n_pairs : int
        Pairs compared (``n * (n - 1) / 2``).
    pearson, spearman : float or None
        Correlations of the pairs' cosine similarities; None with fewer than three pairs or a
        constant similarity.
    """

    n_compounds: int
    n_pairs: int
    pearson: float | None
    spearman: float | None


def truth_treatments(truth: pl.DataFrame) -> pl.DataFrame:
    """The truth table keyed like treatment profiles (the compound, else the control's name).

    Parameters
    ----------
    truth : pl.DataFrame
        ``GroundTruth/compound_phenotypes.tsv`` as read (``Metadata_broad_sample``,
        ``Metadata_pert_iname``, ``activity``, ``true_*``).

    Returns
    -------
    pl.DataFrame
        ``Metadata_treatment``, ``activity`` and the ``true_*`` columns.
    """
    vectors = [c for c in truth.columns if c.startswith(TRUE_PREFIX)]
    if not vectors or ACTIVITY not in truth.columns:
        raise ValueError(f"a truth table needs {ACTIVITY!r} and {TRUE_PREFIX}* columns; got {truth.columns[:8]}")
    key = pl.coalesce(*[pl.col(c).cast(pl.String) for c in (BROAD_SAMPLE, PERT_INAME) if c in truth.columns])
    return truth.select(key.alias(TREATMENT), ACTIVITY, *vectors)


def _pair_cosines(x: np.ndarray) -> np.ndarray:
    """Cosine similarity of every pair of rows, upper triangle flattened (row-major)."""
    norms = np.linalg.norm(x, axis=1)
    unit = x / np.where(norms > 0, norms, 1.0)[:, None]
    i, j = np.triu_indices(len(x), k=1)
    return np.einsum("ij,ij->i", unit[i], unit[j])


def truth_correlation(treatments: pl.DataFrame, features: Sequence[str], truth: pl.DataFrame) -> TruthCorrelation:
    """Correlation of a representation's pairwise similarities with the true ones.

    Parameters
    ----------
    treatments : pl.DataFrame
        Treatment-level profiles with ``Metadata_treatment`` and ``features`` (finite).
    features : sequence of str
        Feature columns.
    truth : pl.DataFrame
        :func:`truth_treatments` output (or the raw truth table, keyed the same way).

    Returns
    -------
    TruthCorrelation
        Counts and the Pearson and Spearman correlations over the upper triangle of pairs of
        active compounds (``activity > 0``) present in both tables. Zero-norm profiles count as
        similarity 0 to everything.

    Raises
    ------
    ValueError
        If a column is missing or a feature is not finite.
    """
    if TREATMENT not in truth.columns:
        truth = truth_treatments(truth)
    vectors = [c for c in truth.columns if c.startswith(TRUE_PREFIX)]
    active = truth.filter(pl.col(ACTIVITY) > 0).select(TREATMENT, *vectors)
    missing = [c for c in (TREATMENT, *features) if c not in treatments.columns]
    if missing:
        raise ValueError(f"treatment profiles lack column(s) {missing[:5]}")
    joined = treatments.select(TREATMENT, *features).join(active, on=TREATMENT, how="inner").sort(TREATMENT)
    x = checked_features(joined.select(pl.col(list(features)).cast(pl.Float64)).to_numpy(), joined.height)
    observed = _pair_cosines(x)
    planted = _pair_cosines(joined.select(vectors).to_numpy().astype(np.float64))
    n = joined.height
    if observed.size < 3 or np.ptp(observed) == 0 or np.ptp(planted) == 0:
        return TruthCorrelation(n, int(observed.size), None, None)
    return TruthCorrelation(n, int(observed.size), float(stats.pearsonr(observed, planted)[0]),
                            float(stats.spearmanr(observed, planted)[0]))

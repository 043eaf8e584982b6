"""Retrieval on a real LINCS Cell Painting plate: ``morph_assets.lib.retrieval`` vs copairs 0.5.5.

Plate ``SQ00015054`` (cytominer-eval's normalised, feature-selected profiles: 384 wells x 454
features; 58 compounds x 6 doses, 24 DMSO wells with ``Metadata_broad_sample == "DMSO"``):

(a) compound retrieval across doses: a well's positives are the other doses of its compound,
    its negatives every DMSO well (controls get a unique reference index so that they are never
    positives of one another);
(b) MOA retrieval: positives are other compounds of the same MOA, negatives wells of other MOAs
    (wells without an MOA, DMSO included, left out);
(c) our ``select_features`` (default operations) re-run on the file's 454 features.

For (a) and (b) both implementations compute per-well AP and per-group mAP with p-values
(null_size 10000, seed 0); the script prints mean AP, mean mAP, the fraction retrieved
(BH q < 0.05), the largest AP difference, whether the p-values are identical, and wall times.

Usage: ``.venv/bin/python bench/real_data_lincs.py``
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl

from morph_assets.lib import retrieval
from morph_assets.lib.profiles import feature_columns, select_features

PLATE_FILE = (
    Path(__file__).resolve().parents[1]
    / "morph_assets_tests" / "data" / "cytominer_eval" / "SQ00015054_normalized_feature_select.csv.gz"
)
NULL_SIZE = 10000
SEED = 0


def load_plate(path: Path = PLATE_FILE) -> tuple[pl.DataFrame, np.ndarray, list[str]]:
    """The plate's metadata (with control marks) and feature matrix.

    Parameters
    ----------
    path : Path
        The compressed CSV.

    Returns
    -------
    tuple of (pl.DataFrame, np.ndarray, list of str)
        Metadata plus ``is_control`` and ``reference`` (unique per DMSO well, -1 otherwise),
        the float64 feature matrix, and the feature names.
    """
    frame = pl.read_csv(path, infer_schema_length=None)
    features = feature_columns(frame)
    control = pl.col("Metadata_broad_sample") == "DMSO"
    meta = frame.drop(features).with_columns(
        control.alias("is_control"),
        pl.when(control).then(pl.int_range(pl.len(), dtype=pl.Int64)).otherwise(-1).alias("reference"),
    )
    return meta, frame.select(features).to_numpy().astype(np.float64), features


def run_ours(meta: pl.DataFrame, x: np.ndarray, rules: dict[str, list[str]], group: str) -> dict[str, object]:
    """AP and mAP with ``morph_assets.lib.retrieval``.

    Parameters
    ----------
    meta : pl.DataFrame
        Metadata rows.
    x : np.ndarray
        Features.
    rules : dict
        ``pos_sameby``, ``pos_diffby``, ``neg_sameby``, ``neg_diffby``.
    group : str
        The mAP grouping column.

    Returns
    -------
    dict
        ``ap`` (per row, NaN where undefined), ``map`` table (sorted by ``group``) and ``seconds``.
    """
    started = time.perf_counter()
    ap = retrieval.average_precision(meta, x, **rules)
    mean_ap = retrieval.mean_average_precision(ap, [group], null_size=NULL_SIZE, seed=SEED)
    seconds = time.perf_counter() - started
    values = ap["average_precision"].fill_null(np.nan).to_numpy()
    return {"ap": values, "map": mean_ap, "seconds": seconds}


def run_copairs(meta: pl.DataFrame, x: np.ndarray, rules: dict[str, list[str]], group: str) -> dict[str, object]:
    """The same computation with copairs 0.5.5 (fresh cache folder, so no result is reused).

    Parameters
    ----------
    meta, x, rules, group
        As :func:`run_ours`.

    Returns
    -------
    dict
        As :func:`run_ours`, ``map`` converted to polars.
    """
    import copairs.map

    pandas_meta = meta.to_pandas()
    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        ap = copairs.map.average_precision(pandas_meta, x, batch_size=20000, progress_bar=False, **rules)
        mean_ap = copairs.map.mean_average_precision(
            ap, [group], null_size=NULL_SIZE, threshold=0.05, seed=SEED, progress_bar=False, cache_dir=cache
        )
        seconds = time.perf_counter() - started
    table = pl.from_pandas(mean_ap[[group, "mean_average_precision", "p_value", "below_corrected_p"]]).sort(group)
    return {"ap": ap["average_precision"].to_numpy(dtype=float), "map": table, "seconds": seconds}


def compare(name: str, meta: pl.DataFrame, x: np.ndarray, rules: dict[str, list[str]], group: str,
            queries: pl.Series) -> list[dict[str, object]]:
    """Run both implementations and summarise each.

    Parameters
    ----------
    name : str
        Task label.
    meta, x, rules, group
        As :func:`run_ours`.
    queries : pl.Series
        Boolean mask of the rows whose AP is summarised (treated wells).

    Returns
    -------
    list of dict
        One summary row per implementation.
    """
    ours, theirs = run_ours(meta, x, rules, group), run_copairs(meta, x, rules, group)
    keep = queries.to_numpy()
    ours_ap, theirs_ap = ours["ap"][keep], theirs["ap"][keep]
    if not np.array_equal(np.isnan(ours_ap), np.isnan(theirs_ap)):
        raise RuntimeError(f"{name}: the two implementations define AP for different wells")
    defined = ~np.isnan(ours_ap)
    max_difference = float(np.max(np.abs(ours_ap[defined] - theirs_ap[defined])))
    same_groups = ours["map"][group].to_list() == theirs["map"][group].to_list()
    identical_p = same_groups and np.array_equal(ours["map"]["p_value"].to_numpy(), theirs["map"]["p_value"].to_numpy())
    rows = []
    for implementation, result in (("morph_assets", ours), ("copairs 0.5.5", theirs)):
        table = result["map"]
        rows.append({
            "task": name, "implementation": implementation,
            "n_queries": int(defined.sum()), "n_groups": table.height,
            "mean_AP": float(np.nanmean(result["ap"][keep])),
            "mean_mAP": float(table["mean_average_precision"].mean()),
            "retrieved_q<0.05": float(table["below_corrected_p"].cast(pl.Float64).mean()),
            "max_|dAP|": f"{max_difference:.1e}", "p_identical": identical_p, "seconds": round(result["seconds"], 3),
        })
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    """Print the retrieval comparison and the feature-selection count."""
    meta, x, features = load_plate()
    with pl.Config(tbl_rows=20, tbl_cols=20, tbl_width_chars=200, fmt_str_lengths=40, float_precision=4):
        compound_rules = {"pos_sameby": ["Metadata_broad_sample", "reference"],
                          "pos_diffby": ["Metadata_mmoles_per_liter"], "neg_sameby": [], "neg_diffby": ["is_control"]}
        rows = compare("(a) compound across doses vs DMSO", meta, x, compound_rules, "Metadata_broad_sample",
                       ~meta["is_control"])
        with_moa = meta["Metadata_moa"].is_not_null().to_numpy()
        moa_meta = meta.filter(pl.Series(with_moa))
        moa_rules = {"pos_sameby": ["Metadata_moa"], "pos_diffby": ["Metadata_broad_sample"], "neg_sameby": [],
                     "neg_diffby": ["Metadata_moa"]}
        rows += compare("(b) MOA across compounds", moa_meta, x[with_moa], moa_rules, "Metadata_moa",
                        pl.Series([True] * moa_meta.height))
        print(f"LINCS plate {PLATE_FILE.name}: {meta.height} wells x {len(features)} features, "
              f"{int(meta['is_control'].sum())} DMSO wells; null_size {NULL_SIZE}, seed {SEED}")
        print(pl.DataFrame(rows))
        frame = pl.read_csv(PLATE_FILE, infer_schema_length=None)
        started = time.perf_counter()
        kept = feature_columns(select_features(frame, features=features))
        print(f"(c) select_features (default operations) keeps {len(kept)} of {len(features)} features "
              f"({time.perf_counter() - started:.2f} s)")


if __name__ == "__main__":
    main()

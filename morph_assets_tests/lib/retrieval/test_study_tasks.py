"""The report rows of sister-compound retrieval and the truth correlation, scored or saying why not."""

from __future__ import annotations

import numpy as np
import polars as pl

from morph_assets.lib.retrieval import (
    NO_GROUND_TRUTH,
    NO_SHARED_TARGETS,
    SCORED,
    SISTER_PER_TARGET_SCHEMA,
    consensus_profiles,
    score_sister_compounds,
    truth_row,
)
from morph_assets.lib.schema import BROAD_SAMPLE, CONTROL_TYPE, PERT_INAME, PLATE, TARGET_LIST, TREATMENT

LABELS = dict(representation="toy", level="well", normalization="mad_robustize")


def _wells(targets: dict[str, str], seed: int = 0) -> pl.DataFrame:
    """Two plates, one well per treatment and plate, plus DMSO; random features, one well with a NaN."""
    rng = np.random.default_rng(seed)
    names = ["DMSO", *targets]
    rows = [{PLATE: plate, TREATMENT: name, BROAD_SAMPLE: None if name == "DMSO" else name,
             CONTROL_TYPE: "negcon" if name == "DMSO" else None, TARGET_LIST: targets.get(name),
             "f1": rng.normal(), "f2": rng.normal(), "f3": rng.normal()}
            for plate in ("P1", "P2") for name in names]
    rows[3]["f2"] = float("nan")
    return pl.DataFrame(rows)


def test_consensus_then_sister_retrieval_scores_shared_targets() -> None:
    wells = _wells({"a": "T1", "b": "T1|T2", "c": "T2", "d": "T3", "e": "T4"})
    consensus = consensus_profiles(wells, ["f1", "f2", "f3"])
    assert consensus.height == 6 and consensus.filter(pl.col(TREATMENT) == "DMSO").height == 1
    row, per_target = score_sister_compounds(consensus, ["f1", "f2", "f3"], null_size=200, **LABELS)
    assert row["status"] == SCORED and row["n_compounds"] == 5
    assert row["n_targets"] == 2 and row["n_queries"] == 4  # T1: a, b; T2: b, c
    assert 0 <= row["mean_map"] <= 1 and 0 <= row["fraction_retrieved"] <= 1
    assert per_target.schema == pl.Schema(SISTER_PER_TARGET_SCHEMA)
    assert per_target["target"].to_list() == ["T1", "T2"] and set(per_target["representation"]) == {"toy"}


def test_no_shared_target_is_a_row_not_a_failure() -> None:
    consensus = consensus_profiles(_wells({"a": "T1", "b": "T2"}), ["f1", "f2", "f3"])
    row, per_target = score_sister_compounds(consensus, ["f1", "f2", "f3"], **LABELS)
    assert row["status"] == NO_SHARED_TARGETS and row["mean_map"] is None and "2 annotated compounds" in row["reason"]
    assert per_target.height == 0 and per_target.schema == pl.Schema(SISTER_PER_TARGET_SCHEMA)


def test_truth_row_without_and_with_ground_truth() -> None:
    consensus = consensus_profiles(_wells({"a": "T1", "b": "T1", "c": "T2", "d": "T3"}), ["f1", "f2", "f3"])
    assert truth_row(consensus, ["f1", "f2", "f3"], None, **LABELS)["status"] == NO_GROUND_TRUTH
    truth = pl.DataFrame({BROAD_SAMPLE: [None, "a", "b", "c", "d"], PERT_INAME: ["DMSO", "a", "b", "c", "d"],
                          "activity": [0.0, 1.0, 1.0, 1.0, 0.0], "true_0": [0.0, 1.0, 0.9, -1.0, 0.0],
                          "true_1": [0.0, 0.1, 0.2, 0.3, 0.0]})
    row = truth_row(consensus, ["f1", "f2", "f3"], truth, **LABELS)
    assert row["status"] == SCORED and row["n_compounds"] == 3 and row["n_pairs"] == 3
    assert -1 <= row["pearson"] <= 1

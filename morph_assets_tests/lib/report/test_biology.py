"""The sister-compound, planted-biology and hierarchical-cluster report sections."""

from __future__ import annotations

import polars as pl

from morph_assets.lib.report import hierarchical_clusters_markdown, sister_compounds_markdown, truth_markdown
from morph_assets.lib.retrieval import NO_GROUND_TRUTH, SISTER_SUMMARY_SCHEMA, TRUTH_CORRELATION_SCHEMA


def test_sister_section_shows_each_representation_and_cpjump1_anchor() -> None:
    summary = pl.DataFrame([dict(representation="cellprofiler", level="well", normalization="mad_robustize",
                                 status="scored", reason=None, n_features=10, n_compounds=260, n_queries=1085,
                                 n_targets=384, mean_ap=0.05, mean_map=0.0565, fraction_retrieved=0.0234,
                                 seconds=1.0)], schema=SISTER_SUMMARY_SCHEMA)
    text = sister_compounds_markdown(summary)
    assert "| cellprofiler | well | mad_robustize | scored | 260 | 384 | 0.057 | 0.023 |" in text
    assert "0.14" in text and "A549" in text


def test_truth_section_says_no_ground_truth_on_real_plates() -> None:
    row = dict(representation="regionprops", level="well", normalization="none", status=NO_GROUND_TRUTH,
               n_compounds=0, n_pairs=0, pearson=None, spearman=None)
    assert "no ground truth" in truth_markdown(pl.DataFrame([row], schema=TRUTH_CORRELATION_SCHEMA)).lower()
    scored = {**row, "status": "scored", "n_compounds": 195, "n_pairs": 18915, "pearson": 0.4642, "spearman": 0.45}
    assert "| regionprops | well | none | 195 | 18915 | 0.464 | 0.450 |" in truth_markdown(
        pl.DataFrame([scored], schema=TRUTH_CORRELATION_SCHEMA))


def test_hierarchical_section_shows_the_summary_or_says_nothing_was_clustered() -> None:
    row = dict(representation="cellprofiler", n_active=132, best_k=11, k_at_range_end=False, stability=0.7761,
               cluster_sizes="34 25 21", n_with_true_group=130, ari_true_phenotype_group=0.0081)
    text = hierarchical_clusters_markdown(pl.DataFrame([row]))
    assert "| cellprofiler | 132 | 11 | false | 0.776 | 34 25 21 | 130 | 0.008 |" in text.lower()
    assert "average linkage" in text and "cosine" in text
    nothing = hierarchical_clusters_markdown(pl.DataFrame(schema=dict.fromkeys(row, pl.String)))
    assert nothing.startswith("No representation")

"""Report sections beyond the study's tables: sister-compound retrieval and the planted biology recovered."""

from __future__ import annotations

import polars as pl

from morph_assets.lib.report._markdown import frame_to_markdown
from morph_assets.lib.retrieval import CPJUMP1_SISTER_FRACTION, NO_GROUND_TRUTH, SCORED


def sister_compounds_markdown(summary: pl.DataFrame) -> str:
    """The sister-compound section: mAP and fraction retrieved per representation, with CPJUMP1's anchor.

    Parameters
    ----------
    summary : pl.DataFrame
        The ``sister_summary`` table (``representation``, ``level``, ``normalization``,
        ``status``, ``n_compounds``, ``n_targets``, ``mean_map``, ``fraction_retrieved``).

    Returns
    -------
    str
        A Markdown table and what it means.
    """
    shown = summary.select("representation", "level", "normalization", "status", "n_compounds", "n_targets",
                           "mean_map", "fraction_retrieved").sort("representation", "normalization")
    return (frame_to_markdown(shown, max_rows=40, float_precision=3) + "\n\n"
            "CPJUMP1's second task (Chandrasekaran et al. 2024): on each treatment's consensus profile (median of its "
            "wells over the replicate plates), a compound is a query once per target it shares with another "
            "compound; its positives are the compounds holding that target, its negatives the compounds sharing none "
            "of its targets (copairs' multilabel average precision). mAP is the mean over targets of the mean AP of "
            "the compounds holding the target; fraction retrieved is the share of targets whose mAP is significant "
            f"(Benjamini-Hochberg q < 0.05). CPJUMP1's CellProfiler profiles retrieve {CPJUMP1_SISTER_FRACTION:.2f} "
            "for A549 24 h compounds. Controls (DMSO, positive controls) and compounds without a target annotation "
            "are not ranked.")


def truth_markdown(table: pl.DataFrame) -> str:
    """The planted-biology section: correlation of profile similarities with the generator's true ones.

    Parameters
    ----------
    table : pl.DataFrame
        The ``truth_correlation`` table.

    Returns
    -------
    str
        A Markdown table and what it means, or a line saying these plates carry no ground truth.
    """
    scored = table.filter(pl.col("status") == SCORED)
    if scored.height == 0:
        return (f"{NO_GROUND_TRUTH.capitalize()}: these plates carry no generator truth "
                "(GroundTruth/compound_phenotypes.tsv), as real plates do not.")
    shown = scored.select("representation", "level", "normalization", "n_compounds", "n_pairs", "pearson",
                          "spearman").sort("representation", "normalization")
    return (frame_to_markdown(shown, max_rows=40, float_precision=3) + "\n\n"
            "How much of the planted biology each representation recovers: over every pair of active compounds "
            "(activity > 0 in the generator's table, positive controls included), the correlation between the cosine "
            "similarity of their treatment consensus profiles and that of their true phenotype vectors. 0 means the "
            "profiles' geometry says nothing about the planted phenotypes; 1 that it mirrors them.")


def hierarchical_clusters_markdown(summary: pl.DataFrame) -> str:
    """The section on the active treatments' hierarchical clusters, cut at the most stable k.

    Parameters
    ----------
    summary : pl.DataFrame
        The ``hierarchical_summary`` table: one row per representation (``n_active``, ``best_k``,
        ``k_at_range_end``, ``stability``, ``cluster_sizes``, ``n_with_true_group``,
        ``ari_true_phenotype_group``).

    Returns
    -------
    str
        A Markdown table and how to read it, or a line saying nothing was clustered.
    """
    if summary.is_empty():
        return "No representation had enough active treatments to cluster (see above)."
    return (frame_to_markdown(summary.sort("representation"), max_rows=40, float_precision=3) + "\n\n"
            "Active treatments (retrieved among their replicates at q < 0.05; well level, DMSO-normalised, pooled) "
            "clustered by average linkage on the cosine distance of their consensus profiles. The cut is the k, in "
            "the range tried, whose partition best survives resampling of the features (stability: mean adjusted "
            "Rand index between the full-data cut and the cuts of trees rebuilt on bootstrapped features; Ben-Hur et "
            "al. 2002). `k_at_range_end` means stability was still rising at the largest k tried. The ARI against "
            "the generator's phenotype groups counts the clustered treatments that truly have a phenotype; empty on "
            "real plates.")

"""Clusters stage: treatment clusters (KMeans, 2-D embeddings) and their validation with independent features."""

import dagster as dg

from morph_assets.defs.clusters.assets import cluster_validation, treatment_clusters

defs = dg.Definitions(assets=[treatment_clusters, cluster_validation])

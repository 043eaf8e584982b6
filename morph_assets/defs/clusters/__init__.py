"""Clusters stage: treatment clusters (KMeans, 2-D embeddings), their validation with independent features,
and hierarchical clusters of the active treatments cut at the most stable k."""

import dagster as dg

from morph_assets.defs.clusters.assets import cluster_validation, treatment_clusters
from morph_assets.defs.clusters.hierarchy import hierarchical_clusters

defs = dg.Definitions(assets=[treatment_clusters, cluster_validation, hierarchical_clusters])

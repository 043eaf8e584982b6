-- One row per representation and active treatment: its hierarchical cluster (at the most stable k), its
-- UMAP coordinates from treatment_clusters and, on generated plates, its true phenotype group.
select * from {{ lake('hierarchical_clusters') }}

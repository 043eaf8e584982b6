-- One row per representation: the active treatments (retrieved at q < 0.05, well level, normalised, pooled)
-- clustered by average linkage on cosine distance, cut at the k most stable under feature bootstraps; on
-- generated plates, the ARI of that cut with the true phenotype groups.
select
    representation,
    n_active,
    best_k,
    -- the most stable k is the largest tried: stability may still rise beyond it
    k_at_range_end,
    -- mean ARI between the full-data cut and the bootstrap cuts at best_k
    stability,
    cluster_sizes,
    n_with_true_group,
    ari_true_phenotype_group
from {{ lake('hierarchical_summary') }}

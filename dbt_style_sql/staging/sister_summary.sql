-- One row per representation, level and normalisation: sister-compound retrieval on treatment consensus
-- profiles (mean_map over targets held by two or more compounds, fraction of targets retrieved at q < 0.05),
-- or, where nothing could be scored, the status with the reason.
select
    representation,
    level,
    normalization,
    status,
    reason,
    n_features,
    n_compounds,
    -- (compound, target) queries with an AP
    n_queries,
    n_targets,
    mean_map,
    mean_ap as mean_ap_over_queries,
    fraction_retrieved
from {{ lake('sister_summary') }}

-- One row per representation, level, normalisation and position setting: mAP and fraction retrieved,
-- or, where nothing could be scored, the status (e.g. 'no replicate pairs') with the reason and counts.
select
    representation,
    level,
    normalization,
    setting,
    position_filter,
    position_definition,
    status,
    reason,
    n_features,
    n_profiles,
    n_rows_dropped,
    n_controls,
    n_queries,
    n_queries_scored,
    n_replicate_pairs,
    n_zero_norm,
    n_treatments,
    mean_ap,
    mean_map,
    fraction_retrieved
from {{ lake('map_summary') }}

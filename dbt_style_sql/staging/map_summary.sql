-- One row per representation, level, normalisation and position setting: mAP (mean_map) and fraction retrieved,
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
    -- mean_map is THE mAP: the mean over treatments of each treatment's mean average precision (the
    -- headline everywhere); mean_ap_over_profiles averages the AP of every query profile instead, so a
    -- treatment with more profiles weighs more
    mean_map,
    mean_ap as mean_ap_over_profiles,
    fraction_retrieved
from {{ lake('map_summary') }}

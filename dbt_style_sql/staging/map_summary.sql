-- One row per representation, level, normalisation and position setting: mAP and fraction retrieved.
select
    representation,
    level,
    normalization,
    setting,
    position_filter,
    position_definition,
    n_features,
    n_profiles,
    n_rows_dropped,
    n_treatments,
    mean_ap,
    mean_map,
    fraction_retrieved
from {{ lake('map_summary') }}

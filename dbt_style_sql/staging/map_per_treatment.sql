-- One row per treatment and retrieval setting: its mAP, permutation p-value, BH q-value.
select
    representation,
    level,
    normalization,
    setting,
    Metadata_treatment as treatment,
    Metadata_pert_iname as pert_iname,
    Metadata_target_list as target_list,
    n_profiles,
    mean_average_precision,
    p_value,
    corrected_p_value,
    below_corrected_p as retrieved
from {{ lake('map_per_treatment') }}

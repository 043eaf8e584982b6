-- One row per target shared by two or more compounds, representation and normalisation: the mean AP of the
-- compounds holding it (each ranks the others against the compounds sharing none of its targets), p, q.
select
    representation,
    level,
    normalization,
    target,
    n_profiles as n_compounds,
    mean_average_precision,
    p_value,
    corrected_p_value,
    below_corrected_p as retrieved
from {{ lake('sister_per_target') }}

-- Per treatment: what it is, where it was tested, cell counts, and how reproducible its CellProfiler
-- profile is (well level, DMSO-normalised, pooled replicates).
select
    t.Metadata_treatment as treatment,
    t.Metadata_pert_iname as pert_iname,
    t.Metadata_target_list as target_list,
    t.Metadata_control_type as control_type,
    t.Metadata_n_wells as n_wells,
    t.Metadata_n_plates as n_plates,
    t.Metadata_median_cells_per_well as median_cells_per_well,
    m.mean_average_precision,
    m.p_value,
    m.corrected_p_value,
    coalesce(m.retrieved, false) as retrieved
from {{ ref('treatment_profiles_cellprofiler') }} as t
left join {{ ref('map_per_treatment') }} as m
    on m.treatment = t.Metadata_treatment
    and m.representation = 'cellprofiler' and m.level = 'well'
    and m.normalization = 'mad_robustize' and m.setting = 'pooled'
order by m.mean_average_precision desc nulls last

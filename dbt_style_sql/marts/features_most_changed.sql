-- Per treatment: the five CellProfiler features that move furthest from DMSO (robust z of the
-- treatment's consensus profile), with the direction of the change.
with long as (
    unpivot {{ ref('treatment_profiles_cellprofiler') }}
    on columns(lambda c: c not like 'Metadata_%')
    into name feature value z
),
ranked as (
    select
        Metadata_treatment as treatment, Metadata_pert_iname as pert_iname, Metadata_target_list as target_list,
        feature, z,
        row_number() over (partition by Metadata_treatment order by abs(z) desc) as rank
    from long
    where Metadata_control_type is distinct from 'negcon' and z is not null and isfinite(z)
)
select treatment, pert_iname, target_list, rank, feature, round(z, 2) as robust_z,
       case when z > 0 then 'up' else 'down' end as direction
from ranked
where rank <= 5
order by treatment, rank

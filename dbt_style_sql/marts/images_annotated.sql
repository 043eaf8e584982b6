-- Every image with the perturbation of its well: the starting point for per-compound questions.
select
    images.*,
    layout.Metadata_broad_sample,
    layout.Metadata_pert_iname,
    layout.Metadata_target_list,
    layout.Metadata_control_type
from {{ ref('raw_images') }} as images
left join {{ ref('plate_layout') }} as layout
    using (Metadata_Plate, Metadata_Well)

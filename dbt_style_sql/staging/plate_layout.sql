-- One row per plate and well: the perturbation in the well (DMSO wells: control_type 'negcon').
select
    Metadata_Plate,
    Metadata_Well,
    Metadata_broad_sample,
    Metadata_pert_iname,
    Metadata_target_list,
    Metadata_pert_type,
    Metadata_control_type,
    Metadata_solvent,
    Metadata_InChIKey
from {{ lake('plate_layout') }}

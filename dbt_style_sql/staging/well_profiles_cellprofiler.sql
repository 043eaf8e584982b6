-- One row per plate, well and normalisation ('none' or 'mad_robustize'): CellProfiler Mean_ well profiles.
select * from {{ lake('profiles_well_cellprofiler') }}

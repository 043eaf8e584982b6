-- One row per treatment: median DMSO-normalised, feature-selected CellProfiler profile over its wells and plates.
select * from {{ lake('treatment_profiles_cellprofiler') }}

-- Every well (and stray file) that failed in the latest run of any per-well table: which table, the file and the reason.
select
    "table" as lake_table,
    Metadata_Plate,
    Metadata_Well,
    file,
    error
from {{ lake('errors') }}

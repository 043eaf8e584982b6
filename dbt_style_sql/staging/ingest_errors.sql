-- Wells (and stray files) left out of the latest ingestion of each plate, with the reason.
select
    "table" as lake_table,
    Metadata_Plate,
    Metadata_Well,
    file,
    error
from {{ lake('errors/raw_images') }}

-- Wells (and stray files) left out of the latest ingestion of each plate, with the reason.
select *
from {{ ref('errors') }}
where lake_table = 'raw_images'

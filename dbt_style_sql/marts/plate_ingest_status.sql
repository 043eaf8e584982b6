-- Per plate: wells in the layout, wells ingested, wells failed, sites and images.
with ingested as (
    select
        Metadata_Plate,
        count(distinct Metadata_Well) as wells_ingested,
        count(distinct Metadata_Well || '-' || Metadata_Site) as sites,
        count(*) as images
    from {{ ref('raw_images') }}
    group by Metadata_Plate
),

layout as (
    select
        Metadata_Plate,
        count(*) as wells_in_layout,
        count(*) filter (where Metadata_control_type = 'negcon') as dmso_wells
    from {{ ref('plate_layout') }}
    group by Metadata_Plate
),

failed as (
    select
        Metadata_Plate,
        count(distinct Metadata_Well) as wells_failed
    from {{ ref('ingest_errors') }}
    where Metadata_Well is not null
    group by Metadata_Plate
)

select
    layout.Metadata_Plate,
    layout.wells_in_layout,
    layout.dmso_wells,
    coalesce(ingested.wells_ingested, 0) as wells_ingested,
    coalesce(failed.wells_failed, 0) as wells_failed,
    coalesce(ingested.sites, 0) as sites,
    coalesce(ingested.images, 0) as images
from layout
left join ingested using (Metadata_Plate)
left join failed using (Metadata_Plate)
order by layout.Metadata_Plate

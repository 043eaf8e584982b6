-- Wells a scientist should look at: not ingested, no or too few cells, saturated or out-of-focus images.
-- Thresholds: any site without a cell (a cell-less well, e.g. a toxic compound, has none in every
-- site: a result to look at, not a failure); fewer than 5 cells per site; over 1 % saturated pixels
-- in any channel; a focus score (power log-log slope) more than 5 robust SDs below the plate's
-- median for that channel.
with focus as (
    select
        Metadata_Plate, Metadata_Well, channel_name, power_log_log_slope, saturated_fraction,
        median(power_log_log_slope) over (partition by Metadata_Plate, channel_name) as plate_median,
        1.4826 * median(abs(power_log_log_slope - plate_median)) over (partition by Metadata_Plate, channel_name) as plate_mad
    from (
        select *, median(power_log_log_slope) over (partition by Metadata_Plate, channel_name) as plate_median
        from {{ ref('raw_images') }}
    )
),
image_flags as (
    select
        Metadata_Plate, Metadata_Well,
        max(saturated_fraction) > 0.01 as saturated,
        bool_or(power_log_log_slope < plate_median - 5 * plate_mad) as out_of_focus
    from focus
    group by all
),
cell_flags as (
    select Metadata_Plate, Metadata_Well, avg(Count_Cells) as cells_per_site, count(*) as sites,
           count(*) filter (where Count_Cells = 0) as sites_without_cells
    from {{ ref('regionprops_image') }}
    group by all
),
reasons as (
    select Metadata_Plate, Metadata_Well, 'not ingested: ' || error as reason from {{ ref('ingest_errors') }}
    where Metadata_Well is not null
    union all
    select Metadata_Plate, Metadata_Well, 'no cells in ' || sites_without_cells || ' of ' || sites || ' sites'
    from cell_flags where sites_without_cells > 0
    union all
    select Metadata_Plate, Metadata_Well, 'few cells: ' || round(cells_per_site, 1) || ' per site'
    from cell_flags where cells_per_site < 5 and sites_without_cells < sites
    union all
    select Metadata_Plate, Metadata_Well, 'saturated pixels above 1 %' from image_flags where saturated
    union all
    select Metadata_Plate, Metadata_Well, 'out of focus (a channel 5 robust SDs below the plate)' from image_flags where out_of_focus
)
select r.Metadata_Plate as plate, r.Metadata_Well as well, l.Metadata_pert_iname as pert_iname,
       l.Metadata_control_type as control_type, string_agg(r.reason, '; ' order by r.reason) as reasons
from reasons as r
left join {{ ref('plate_layout') }} as l using (Metadata_Plate, Metadata_Well)
group by all
order by plate, well

-- Per plate and channel: intensity level, saturation and focus; DMSO wells only in the *_dmso columns
-- (a plate whose DMSO intensity drifts from its replicates shows here first).
select
    Metadata_Plate,
    channel,
    channel_name,
    count(*) as images,
    avg(mean_intensity) as mean_intensity,
    avg(mean_intensity) filter (where Metadata_control_type = 'negcon') as mean_intensity_dmso,
    max(saturated_fraction) as max_saturated_fraction,
    count(*) filter (where saturated_fraction > 0.01) as images_over_1pct_saturated,
    median(power_log_log_slope) as median_focus_slope,
    min(power_log_log_slope) as min_focus_slope
from {{ ref('images_annotated') }}
group by Metadata_Plate, channel, channel_name
order by Metadata_Plate, channel

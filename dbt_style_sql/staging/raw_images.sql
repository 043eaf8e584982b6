-- One row per image file (site x channel) with pixel statistics and QC; every plate in the lake.
select
    Metadata_Plate,
    Metadata_Well,
    Metadata_Site,
    channel,
    channel_name,
    path,
    height,
    width,
    dtype,
    mean_intensity,
    std_intensity,
    min_intensity,
    max_intensity,
    saturated_fraction,
    power_log_log_slope
from {{ lake('raw_images') }}

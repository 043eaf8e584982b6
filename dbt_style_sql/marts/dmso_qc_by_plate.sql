-- Per plate: the DMSO wells normalisation relies on: how many, how many cells, how variable.
with dmso as (
    select r.Metadata_Plate, r.Metadata_Well, avg(r.Count_Cells) as cells_per_site
    from {{ ref('regionprops_image') }} as r
    join {{ ref('plate_layout') }} as l using (Metadata_Plate, Metadata_Well)
    where l.Metadata_control_type = 'negcon'
    group by all
),
dna as (
    select i.Metadata_Plate, avg(i.mean_intensity) as dmso_dna_intensity,
           stddev_samp(i.mean_intensity) / nullif(avg(i.mean_intensity), 0) as dmso_dna_intensity_cv
    from {{ ref('raw_images') }} as i
    join {{ ref('plate_layout') }} as l using (Metadata_Plate, Metadata_Well)
    where l.Metadata_control_type = 'negcon' and i.channel_name = 'DNA'
    group by all
)
select
    dmso.Metadata_Plate as plate,
    count(*) as dmso_wells,
    round(median(cells_per_site), 1) as median_cells_per_site,
    round(stddev_samp(cells_per_site) / nullif(avg(cells_per_site), 0), 3) as cells_per_site_cv,
    count(*) filter (where cells_per_site < 5) as dmso_wells_under_5_cells,
    round(any_value(dna.dmso_dna_intensity), 1) as dmso_dna_intensity,
    round(any_value(dna.dmso_dna_intensity_cv), 3) as dmso_dna_intensity_cv
from dmso
left join dna using (Metadata_Plate)
group by dmso.Metadata_Plate
order by plate

-- Per plate: the DMSO wells normalisation relies on: how many, how many cells, how variable.
-- A site without cells counts 0 (regionprops_image has a row for every site), so a DMSO well
-- with no cell at all is counted in dmso_wells_without_cells and dmso_wells_under_5_cells.
with dmso as (
    select r.Metadata_Plate, r.Metadata_Well, avg(r.Count_Cells) as cells_per_site,
           count(*) filter (where r.Count_Cells = 0) as sites_without_cells
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
    count(*) filter (where cells_per_site = 0) as dmso_wells_without_cells,
    sum(sites_without_cells) as dmso_sites_without_cells,
    round(any_value(dna.dmso_dna_intensity), 4) as dmso_dna_intensity,  -- fraction of full scale
    round(any_value(dna.dmso_dna_intensity_cv), 3) as dmso_dna_intensity_cv
from dmso
left join dna using (Metadata_Plate)
group by dmso.Metadata_Plate
order by plate

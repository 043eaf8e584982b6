-- Per plate and method: cells per site and, where ground truth exists, median AP@0.5 and F1.
select
    Metadata_Plate,
    method,
    count(*) as sites,
    median(Count_Cells) as median_cells_per_site,
    count(*) filter (where Count_Cells = 0) as empty_sites,
    median(nuclei_ap50) as median_nuclei_ap50,
    median(cells_ap50) as median_cells_ap50,
    median(cells_f1) as median_cells_f1,
    median(abs(cells_count_error)) as median_abs_count_error
from {{ ref('masks') }}
group by Metadata_Plate, method
order by Metadata_Plate

-- The 25 treatments whose replicates CellProfiler profiles retrieve best, with their targets.
select treatment, pert_iname, target_list, n_plates, mean_average_precision, corrected_p_value, retrieved
from {{ ref('compound_summary') }}
where control_type is distinct from 'negcon' and mean_average_precision is not null
order by mean_average_precision desc
limit 25

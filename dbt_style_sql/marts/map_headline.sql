-- The mAP summary the main job prints: each representation, scored as the study did (image level,
-- no normalisation) and as the field does (well level, DMSO-normalised, feature-selected); settings
-- without replicate pairs have a null mAP and are named in not_scored.
select
    representation,
    level,
    normalization,
    round(max(case when setting = 'pooled' then mean_map end), 3) as map_pooled,
    round(max(case when setting = 'same (cpjump1)' then mean_map end), 3) as map_same_well,
    round(max(case when setting = 'different (cpjump1)' then mean_map end), 3) as map_different_well,
    round(max(case when setting = 'pooled' then fraction_retrieved end), 3) as retrieved_pooled,
    max(n_treatments) as treatments,
    -- a null mAP above is explained here, e.g. one plate has no 'same well on another plate'
    string_agg(case when status <> 'scored' then setting || ': ' || status end, '; ' order by setting) as not_scored
from {{ ref('map_summary') }}
where (level = 'image' and normalization = 'none') or (level = 'well' and normalization = 'mad_robustize')
group by all
order by representation, level

-- The mAP summary the main job prints: each representation, scored as the study did (image level,
-- no normalisation) and as the field does (well level, DMSO-normalised, feature-selected).
select
    representation,
    level,
    normalization,
    round(max(case when setting = 'pooled' then mean_map end), 3) as map_pooled,
    round(max(case when setting = 'same (cpjump1)' then mean_map end), 3) as map_same_well,
    round(max(case when setting = 'different (cpjump1)' then mean_map end), 3) as map_different_well,
    round(max(case when setting = 'pooled' then fraction_retrieved end), 3) as retrieved_pooled,
    max(n_treatments) as treatments
from {{ ref('map_summary') }}
where (level = 'image' and normalization = 'none') or (level = 'well' and normalization = 'mad_robustize')
group by all
order by representation, level

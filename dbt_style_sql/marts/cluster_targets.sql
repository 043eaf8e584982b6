-- Per representation and cluster: how many treatments, and the targets they share most.
with exploded as (
    select representation, cluster, treatment, unnest(string_split(coalesce(target_list, 'none'), '|')) as target
    from {{ ref('treatment_clusters') }}
    where control_type is distinct from 'negcon'
),
counted as (
    select representation, cluster, target, count(*) as n
    from exploded
    group by representation, cluster, target
),
ranked as (
    select *, row_number() over (partition by representation, cluster order by n desc, target) as rank
    from counted
),
sizes as (
    select representation, cluster, count(*) as treatments
    from {{ ref('treatment_clusters') }}
    group by representation, cluster
)
select s.representation, s.cluster, s.treatments,
       string_agg(r.target || ' (' || r.n || ')', ', ' order by r.rank) as top_targets
from sizes as s
left join ranked as r on r.representation = s.representation and r.cluster = s.cluster and r.rank <= 5
group by s.representation, s.cluster, s.treatments
order by s.representation, s.cluster

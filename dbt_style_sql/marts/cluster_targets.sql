-- Per representation and cluster: how many treatments, and the targets they share most.
with exploded as (
    select representation, cluster, treatment, unnest(string_split(coalesce(target_list, 'none'), '|')) as target
    from {{ ref('treatment_clusters') }}
    where control_type is distinct from 'negcon'
),
counted as (
    select representation, cluster, target, count(*) as n,
           row_number() over (partition by representation, cluster order by count(*) desc, target) as rank
    from exploded
    group by all
)
select c.representation, c.cluster, c.treatments,
       string_agg(t.target || ' (' || t.n || ')', ', ' order by t.rank) as top_targets
from (select representation, cluster, count(*) as treatments from {{ ref('treatment_clusters') }} group by all) as c
left join counted as t on t.representation = c.representation and t.cluster = c.cluster and t.rank <= 5
group by all
order by c.representation, c.cluster

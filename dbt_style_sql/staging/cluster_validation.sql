-- One row per clustered representation: CellProfiler cosine similarity within vs between clusters (Mann-Whitney U), ARI vs truth.
select * from {{ lake('cluster_validation') }}

-- One row per representation and k: KMeans silhouette and inertia (the best k has the highest silhouette).
select * from {{ lake('cluster_silhouettes') }}

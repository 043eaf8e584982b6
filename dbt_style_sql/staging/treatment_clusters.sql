-- One row per representation and treatment: its KMeans cluster, UMAP and t-SNE coordinates, targets.
select
    representation,
    Metadata_treatment as treatment,
    Metadata_pert_iname as pert_iname,
    Metadata_target_list as target_list,
    Metadata_control_type as control_type,
    cluster,
    umap_1, umap_2, tsne_1, tsne_2
from {{ lake('treatment_clusters') }}

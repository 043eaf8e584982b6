"""Models stage: image tensors, classifiers, VAE, clusters, cluster validation, the study report."""

import dagster as dg

from morph_assets.defs.models.classifier_assets import treatment_classifiers
from morph_assets.defs.models.cluster_assets import cluster_validation, treatment_clusters
from morph_assets.defs.models.report_assets import study_report
from morph_assets.defs.models.tensors import image_tensor_index, image_tensors
from morph_assets.defs.models.vae_assets import vae_embeddings, vae_model

defs = dg.Definitions(
    assets=[image_tensors, image_tensor_index, treatment_classifiers, vae_model, vae_embeddings, treatment_clusters,
            cluster_validation, study_report],
)

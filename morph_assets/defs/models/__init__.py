"""Models stage: image tensors, single-cell crops, classifiers, the VAE and the crop network."""

import dagster as dg

from morph_assets.defs.models.classifier_assets import treatment_classifiers
from morph_assets.defs.models.crop_net_assets import crop_network
from morph_assets.defs.models.crops import single_cell_crop_index, single_cell_crops
from morph_assets.defs.models.tensors import image_tensor_index, image_tensors
from morph_assets.defs.models.vae_assets import vae_embeddings, vae_model

defs = dg.Definitions(
    assets=[image_tensors, image_tensor_index, single_cell_crops, single_cell_crop_index, treatment_classifiers,
            vae_model, vae_embeddings, crop_network],
)

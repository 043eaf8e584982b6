"""Models: treatment classifiers, the VAE, clustering and cluster validation.

Grouped train/test splits and honest evaluation, the random forest on features, the small CNN
and the convolutional VAE on site tensors, KMeans with k chosen by silhouette, hierarchical
clusters cut where they are most stable, 2-D embeddings, and the validation of clusters with
independent features. Nothing here plots.
"""

from morph_assets.lib.models._clustering import (
    N_PROFILES,
    treatment_aggregates,
    lake_treatment_matrix,
    KMeansSelection,
    choose_kmeans,
    embed_2d,
)
from morph_assets.lib.models._hierarchical import (
    LINKAGE_METHOD,
    LINKAGE_METRIC,
    StableCut,
    stable_hierarchical,
)
from morph_assets.lib.models._crop_net import (
    CropNet,
    CropNetSettings,
    augment,
    balanced_indices,
    class_log_probabilities,
    to_view,
    train_crop_net,
)
from morph_assets.lib.models._crop_folds import (
    CrossFit,
    cross_fitted_log_probabilities,
    plate_folds,
    pooled_probabilities,
    split_log_probabilities,
)
from morph_assets.lib.models._cnn import (
    SmallCNN,
    predict,
    train_cnn,
    save_model,
    load_model,
)
from morph_assets.lib.models._forest import (
    CLASS_WEIGHTINGS,
    MIN_TEST_LABELS,
    held_out_shortfall,
    ClassifierReport,
    evaluate,
    training_medians,
    impute_non_finite,
    train_random_forest,
    reports_table,
)
from morph_assets.lib.models._vae import (
    ENCODER_WIDTHS,
    ConvVAE,
    vae_loss,
    train_vae,
    latent_means,
    save_vae,
    load_vae,
    reconstruct,
)
from morph_assets.lib.models._split import (
    grouped_stratified_split,
)
from morph_assets.lib.models._validation import (
    Alternative,
    cosine_similarity_pairs,
    ClusterSeparation,
    within_vs_between,
    adjusted_rand,
)

__all__ = [
    "lake_treatment_matrix",
    "CropNet",
    "CropNetSettings",
    "CrossFit",
    "augment",
    "balanced_indices",
    "class_log_probabilities",
    "cross_fitted_log_probabilities",
    "plate_folds",
    "pooled_probabilities",
    "split_log_probabilities",
    "to_view",
    "train_crop_net",
    "Alternative",
    "CLASS_WEIGHTINGS",
    "ClassifierReport",
    "ClusterSeparation",
    "ConvVAE",
    "ENCODER_WIDTHS",
    "KMeansSelection",
    "LINKAGE_METHOD",
    "LINKAGE_METRIC",
    "MIN_TEST_LABELS",
    "N_PROFILES",
    "SmallCNN",
    "StableCut",
    "adjusted_rand",
    "choose_kmeans",
    "cosine_similarity_pairs",
    "embed_2d",
    "evaluate",
    "grouped_stratified_split",
    "held_out_shortfall",
    "impute_non_finite",
    "latent_means",
    "load_model",
    "load_vae",
    "predict",
    "reconstruct",
    "reports_table",
    "save_model",
    "save_vae",
    "stable_hierarchical",
    "train_cnn",
    "train_random_forest",
    "train_vae",
    "training_medians",
    "treatment_aggregates",
    "vae_loss",
    "within_vs_between",
]

-- Every treatment classifier beside the others, best balanced accuracy first: the study's Random Forests
-- and CNNs (split by well) and the crop CNN (each plate predicted by a network trained on other plates;
-- one row per pooling and split). Balanced accuracy is the mean recall per treatment, which always
-- answering DMSO (majority_accuracy) cannot inflate.
select
    model,
    variant,
    class_weighting,
    round(accuracy, 3) as accuracy,
    round(balanced_accuracy, 3) as balanced_accuracy,
    round(f1_weighted, 3) as f1_weighted,
    round(majority_accuracy, 3) as majority_accuracy,
    n_test
from (
    select model, variant, class_weighting, accuracy, balanced_accuracy, f1_weighted, majority_accuracy, n_test
    from {{ ref('classifier_metrics') }}
    union all
    select model, variant, class_weighting, accuracy, balanced_accuracy, f1_weighted, majority_accuracy, n_test
    from {{ ref('crop_classifier_metrics') }}
)
order by balanced_accuracy desc, model, variant

-- One row per representation, level and normalisation: on generated plates, the Pearson and Spearman
-- correlation between the active compounds' pairwise cosine similarities (treatment consensus profiles) and
-- those of the generator's true phenotype vectors; status 'no ground truth' on real plates.
select
    representation,
    level,
    normalization,
    status,
    n_compounds,
    n_pairs,
    pearson,
    spearman
from {{ lake('truth_correlation') }}

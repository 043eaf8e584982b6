-- One row per representation and k tried: mean and standard deviation of the ARI between the full-data cut
-- and the feature-bootstrap cuts; chosen marks the k kept.
select * from {{ lake('hierarchical_stability') }}

-- Which features feature selection kept, per representation.
select representation, feature from {{ lake('selected_features') }}

-- One row per site: object counts and mean regionprops features (the study's image-level table).
select * from {{ lake('regionprops_image') }}

-- One row per site: objects found, the label image files, and quality against ground truth where known.
select * from {{ lake('masks') }}

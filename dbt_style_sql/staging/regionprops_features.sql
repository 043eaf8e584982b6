-- One row per cell: regionprops of its nucleus, cell and cytoplasm (CellProfiler-style names).
select * from {{ lake('regionprops_features') }}

-- One row per site: CellProfiler's Mean_<Object>_<Measurement> and Count_<Object> columns.
select * from {{ lake('cellprofiler_mean') }}

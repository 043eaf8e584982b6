-- One row per plate and channel: the illumination function's range and, on synthetic plates,
-- its agreement with the generator's true field.
select * from {{ lake('illumination') }}

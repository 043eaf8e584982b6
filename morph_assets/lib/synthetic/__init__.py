"""Seeded synthetic Cell Painting plates, the project's embedded default data.

A phenotype model decides what each compound does to the cells of a well; a renderer draws one
field of view per site with a camera's noise; the plate writer lays the files out as a real
CPJUMP1 plate folder, ground-truth masks included.
"""

from morph_assets.lib.synthetic._cells import (
    CAMERA_OFFSET,
    AUTOFLUORESCENCE,
    ADU_PER_ELECTRON,
    READ_NOISE_ADU,
    BRIGHTFIELD_LEVEL,
    UINT16_MAX,
    CellPopulation,
    render_cells,
)
from morph_assets.lib.synthetic._model import (
    N_PROGRAMS,
    POSITIVE_CONTROLS,
    DMSO,
    INACTIVE,
    PARAMETERS,
    SyntheticConfig,
    compound_phenotypes,
    well_parameters,
)
from morph_assets.lib.synthetic._plate import (
    PLATE_MAP_NAME,
    COMPLETE_MARKER,
    SyntheticSite,
    illumination_field,
    render_site,
    generate_plate,
    generate_plates,
)

__all__ = [
    "ADU_PER_ELECTRON",
    "AUTOFLUORESCENCE",
    "BRIGHTFIELD_LEVEL",
    "CAMERA_OFFSET",
    "COMPLETE_MARKER",
    "CellPopulation",
    "DMSO",
    "INACTIVE",
    "N_PROGRAMS",
    "PARAMETERS",
    "PLATE_MAP_NAME",
    "POSITIVE_CONTROLS",
    "READ_NOISE_ADU",
    "SyntheticConfig",
    "SyntheticSite",
    "UINT16_MAX",
    "compound_phenotypes",
    "generate_plate",
    "generate_plates",
    "illumination_field",
    "render_cells",
    "render_site",
    "well_parameters",
]

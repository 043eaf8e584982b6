"""CellProfiler's per-object measurements of Nuclei, Cells and Cytoplasm, with CellProfiler's names.

The numbers are cp-measure's (CellProfiler's measurement code as a library), computed faster:

========================  =====================================================================
family                    how
========================  =====================================================================
sizeshape, zernike,       cp-measure, once per object type (they depend on the mask only)
feret
intensity                 cp-measure's ``legacy=True`` intensity (CellProfiler's ``n*q``
                          quartiles), vectorised over objects (:mod:`.cellprofiler_intensity`)
texture                   own numba kernel, all objects in one pass (:mod:`.cellprofiler_texture`)
granularity               image part once per channel, shared by the three object types, numba
                          reconstruction (:mod:`.cellprofiler_granularity`)
radial_distribution,      label geometry / Zernike basis once per object type, per-channel
radial_zernikes           bincounts (:mod:`.cellprofiler_radial`)
========================  =====================================================================

Images are on the intensity contract of :mod:`.images` (uint16 / 65535, as CellProfiler loads
them; illumination-corrected values may pass 1).
:func:`measure_cp_measure` runs bare cp-measure on the same objects, for tests and the benchmark.

Names: ``<Object>_<Measurement>`` as in CellProfiler's per-object spreadsheets, e.g.
``Cells_AreaShape_Area``, ``Nuclei_Intensity_MeanIntensity_DNA``,
``Cytoplasm_Texture_Contrast_RNA_3_00_256``, ``Cells_Granularity_1_Mito``,
``Nuclei_RadialDistribution_FracAtD_DNA_1of4``. :func:`mean_table` turns the per-object table into
ExportToSpreadsheet's per-image ``Mean_<Object>_<Measurement>`` and ``Count_<Object>`` columns;
:func:`measure_cellprofiler_means` computes the same row directly from the column arrays.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

import numpy as np
import polars as pl
from cp_measure._sanitize import sanitize_masks
from cp_measure.bulk import get_core_measurements

from morph_assets.lib.features._per_image import image_keys_and_features, per_image_means
from morph_assets.lib.features._regionprops import (
    COMPARTMENTS,
    Segmentation,
    compartment_labels,
)
from morph_assets.lib.features.cellprofiler._granularity import GranularityObjects, granularity_spectrum
from morph_assets.lib.features.cellprofiler._intensity import IntensityObjects
from morph_assets.lib.features.cellprofiler._radial import RadialGeometry, RadialZernikeBasis
from morph_assets.lib.features.cellprofiler._texture import (
    DIRECTIONS,
    HARALICK_FEATURES,
    bounding_boxes,
    haralick_features,
    quantize,
)
from morph_assets.lib.plates import contract_image

MASK_FAMILIES: tuple[str, ...] = ("sizeshape", "zernike", "feret")
CHANNEL_FAMILIES: tuple[str, ...] = (
    "intensity",
    "texture",
    "granularity",
    "radial_distribution",
    "radial_zernikes",
)
FAMILIES: tuple[str, ...] = MASK_FAMILIES + CHANNEL_FAMILIES
TEXTURE_SCALE = 3
GRAY_LEVELS = 256
#: cp-measure outputs that are not CellProfiler measurements and are left out.
NOT_IN_CELLPROFILER: frozenset[str] = frozenset({"PerimeterCrofton"})

_SUFFIXED = re.compile(r"^(RadialDistribution_[A-Za-z]+)_(.+)$")


def cellprofiler_name(family: str, name: str, channel: str | None = None) -> str:
    """Map a cp-measure output name to CellProfiler's measurement name (without the object).

    Parameters
    ----------
    family : str
        cp-measure's feature family (``"sizeshape"``, ``"intensity"``, ``"texture"``, ...).
    name : str
        cp-measure's name of the measurement.
    channel : str, optional
        The channel measured; None for mask-only families.

    Returns
    -------
    str
        CellProfiler's name, the channel where CellProfiler puts it.

    Examples
    --------
    >>> cellprofiler_name("sizeshape", "Area")
    'AreaShape_Area'
    >>> cellprofiler_name("texture", "AngularSecondMoment_3_00_256", "DNA")
    'Texture_AngularSecondMoment_DNA_3_00_256'
    >>> cellprofiler_name("radial_distribution", "RadialDistribution_FracAtD_1of4", "RNA")
    'RadialDistribution_FracAtD_RNA_1of4'
    """
    if family in MASK_FAMILIES:
        return f"AreaShape_{name}"
    if channel is None:
        raise ValueError(f"family {family!r} needs a channel")
    if family == "intensity":  # Intensity_MeanIntensity, Location_CenterMassIntensity_X
        return f"{name}_{channel}"
    if family == "granularity":  # Granularity_3
        return f"{name}_{channel}"
    if family == "texture":  # Contrast_3_00_256
        feature, scale, direction, levels = name.rsplit("_", 3)
        return f"Texture_{feature}_{channel}_{scale}_{direction}_{levels}"
    if family in ("radial_distribution", "radial_zernikes"):
        match = _SUFFIXED.match(name)
        if match is None:
            raise ValueError(f"unexpected radial measurement name {name!r}")
        return f"{match.group(1)}_{channel}_{match.group(2)}"
    raise ValueError(f"unknown family {family!r}")


def to_unit_float(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Image as float64 on the intensity contract (:func:`morph_assets.lib.plates.contract_image`).

    Integers are divided by their type's full scale as CellProfiler loads them; floats are taken
    as already on the contract scale, whatever their range (illumination-corrected images pass
    1 and may pass 2; ``load_site`` scaled them), and must be finite and non-negative.

    Parameters
    ----------
    image : numpy.ndarray
        An integer or float image.
    name : str, optional
        What to call it in an error message.

    Returns
    -------
    numpy.ndarray
        The image as float64.

    Raises
    ------
    ValueError
        One line naming ``name`` for float pixels that are NaN, infinite or negative.
    """
    return contract_image(image, name)


def _texture_dict(values: np.ndarray) -> dict[str, np.ndarray]:
    out = {}
    for direction in range(len(DIRECTIONS)):
        for index, feature in enumerate(HARALICK_FEATURES):
            out[f"{feature}_{TEXTURE_SCALE}_{direction:02d}_{GRAY_LEVELS}"] = values[direction, index]
    return out


def _check_families(families: Iterable[str]) -> tuple[str, ...]:
    families = tuple(families)
    unknown = set(families) - set(FAMILIES)
    if unknown:
        raise ValueError(f"unknown families {sorted(unknown)}; known: {FAMILIES}")
    return families


def _prepare(segmentation: Segmentation, images: Mapping[str, np.ndarray]):
    labels = compartment_labels(segmentation)
    shape = labels["Cells"].shape
    channels = {}
    for name, image in images.items():
        channels[name] = to_unit_float(image, f"image {name!r}")
        if channels[name].shape != shape:
            raise ValueError(f"image {name!r} has shape {channels[name].shape}, labels have {shape}")
    clean = {obj: sanitize_masks(labels[obj]) for obj in COMPARTMENTS}
    return clean, channels


def _assemble(columns: dict[str, dict[str, np.ndarray]], ids: dict[str, np.ndarray]) -> pl.DataFrame:
    every = np.unique(np.concatenate([np.asarray(v, dtype=np.int64) for v in ids.values()]))
    table = pl.DataFrame({"ObjectNumber": every.astype(np.int64)})
    for obj in COMPARTMENTS:
        data = {"ObjectNumber": ids[obj].astype(np.int64)}
        for name, values in columns[obj].items():
            data[f"{obj}_{name}"] = np.asarray(values, dtype=np.float64)
        frame = pl.DataFrame(data)
        table = table.join(frame, on="ObjectNumber", how="left")
    return table.sort("ObjectNumber")


def _mask_families(families, core, labels, probe) -> dict[str, np.ndarray]:
    out = {}
    for family in MASK_FAMILIES:
        if family in families:
            for name, values in core[family](labels, probe).items():
                if name not in NOT_IN_CELLPROFILER:
                    out[cellprofiler_name(family, name)] = values
    return out


def _measure_columns(
    segmentation: Segmentation, images: Mapping[str, np.ndarray], families: Iterable[str]
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """Per-object column arrays ``{object: {measurement: values}}`` and object ids per object type."""
    families = _check_families(families)
    clean, channels = _prepare(segmentation, images)
    core = get_core_measurements(legacy=True, sanitize=False)
    columns: dict[str, dict[str, np.ndarray]] = {obj: {} for obj in COMPARTMENTS}
    probe = next(iter(channels.values()), None)
    if probe is None:
        probe = np.zeros(clean["Cells"][0].shape)
    spectra = {}
    if "granularity" in families:
        spectra = {name: granularity_spectrum(image) for name, image in channels.items()}
    levels = {}
    if "texture" in families:
        levels = {name: quantize(image) for name, image in channels.items()}
    for obj in COMPARTMENTS:
        labels, ids = clean[obj]
        n = ids.size
        out = columns[obj]
        if n == 0:
            continue
        out.update(_mask_families(families, core, labels, probe))
        if "intensity" in families:
            objects = IntensityObjects(labels, n)
            for channel, image in channels.items():
                for name, values in objects.features(image).items():
                    out[cellprofiler_name("intensity", name, channel)] = values
        if "texture" in families:
            boxes = bounding_boxes(labels, n)
            for channel, quantized in levels.items():
                values = haralick_features(labels, quantized, n, TEXTURE_SCALE, boxes)
                for name, column in _texture_dict(values).items():
                    out[cellprofiler_name("texture", name, channel)] = column
        if "granularity" in families and spectra:
            objects = GranularityObjects(labels, next(iter(spectra.values())))
            for channel, spectrum in spectra.items():
                for step, column in enumerate(objects.features(spectrum), start=1):
                    out[cellprofiler_name("granularity", f"Granularity_{step}", channel)] = column
        if "radial_distribution" in families:
            geometry = RadialGeometry(labels)
            for channel, image in channels.items():
                for name, column in geometry.features(image).items():
                    out[cellprofiler_name("radial_distribution", name, channel)] = column
        if "radial_zernikes" in families:
            for channel, values in RadialZernikeBasis(labels).features(channels).items():
                for name, column in values.items():
                    out[cellprofiler_name("radial_zernikes", name, channel)] = column
    return columns, {obj: clean[obj][1] for obj in COMPARTMENTS}


def measure_cellprofiler(
    segmentation: Segmentation,
    images: Mapping[str, np.ndarray],
    families: Iterable[str] = FAMILIES,
) -> pl.DataFrame:
    """CellProfiler's per-object measurements for Nuclei, Cells and Cytoplasm, one row per cell.

    Parameters
    ----------
    segmentation : Segmentation
        ``nuclei``, ``cells``, ``cytoplasm`` label images sharing labels.
    images : Mapping[str, np.ndarray]
        Channel name -> 2-D image on the intensity contract (:func:`to_unit_float`: integers are
        scaled, uint16 / 65535; floats are taken as already on it and must be finite, >= 0).
    families : iterable of str
        Subset of :data:`FAMILIES`.

    Returns
    -------
    pl.DataFrame
        ``ObjectNumber`` then ``<Object>_<Measurement>`` columns; nulls where a cell lacks the
        compartment. Values equal :func:`measure_cp_measure`'s to round-off (see the tests).
    """
    return _assemble(*_measure_columns(segmentation, images, families))


def measure_cellprofiler_means(
    segmentation: Segmentation,
    images: Mapping[str, np.ndarray],
    families: Iterable[str] = FAMILIES,
) -> pl.DataFrame:
    """``mean_table(measure_cellprofiler(...))`` without the per-object table: one row per image.

    The per-object column arrays go straight to per-image means (NaN-skipping, one ``nanmean``
    per object type over all its columns), which saves building the per-object DataFrame and
    polars' aggregation over every column.

    Parameters
    ----------
    segmentation : Segmentation
        The site's nuclei, cells and cytoplasm.
    images : mapping of str to numpy.ndarray
        Channel name -> (M, N) image on the intensity contract.
    families : iterable of str, optional
        Feature families to measure, all of :data:`FAMILIES` by default.

    Returns
    -------
    pl.DataFrame
        One row. ``Count_<Object>`` (Int64) for each of Nuclei, Cells, Cytoplasm, 0 where the
        site has none of them (a cell-less site is a count of 0, as in CellProfiler's Image.csv),
        then ``Mean_<Object>_<Measurement>`` (Float64; null where every object's value is NaN) of
        the object types present, in :func:`mean_table`'s order. An object type without objects
        has no ``Mean_`` columns here; stacked with other sites' rows they read as null.
    """
    columns, ids = _measure_columns(segmentation, images, families)
    counts = {f"Count_{obj}": int(ids[obj].size) for obj in COMPARTMENTS}
    counts_frame = pl.DataFrame({name: [count] for name, count in counts.items()}, schema=dict.fromkeys(counts, pl.Int64))
    names: list[str] = []
    sums: list[np.ndarray] = []
    present: list[np.ndarray] = []
    for obj in COMPARTMENTS:
        own = columns[obj]
        if not own:
            continue
        names.extend(f"Mean_{obj}_{name}" for name in own)
        block = np.stack([np.asarray(values, dtype=np.float64) for values in own.values()])
        missing = np.isnan(block)
        sums.append(np.where(missing, 0.0, block).sum(axis=1))
        present.append(block.shape[1] - missing.sum(axis=1))
    if not names:
        return counts_frame
    present_all = np.concatenate(present)
    with np.errstate(invalid="ignore"):
        means = np.concatenate(sums) / np.maximum(present_all, 1)
    # one column transposed to one row: far cheaper than building ~1,500 one-value Series
    means_frame = pl.Series("mean", means, dtype=pl.Float64).to_frame().transpose(column_names=names)
    empty = np.flatnonzero(present_all == 0)
    if empty.size:
        means_frame = means_frame.with_columns(pl.lit(None, dtype=pl.Float64).alias(names[i]) for i in empty)
    return pl.concat([counts_frame, means_frame], how="horizontal")


def measure_cp_measure(
    segmentation: Segmentation,
    images: Mapping[str, np.ndarray],
    families: Iterable[str] = FAMILIES,
) -> pl.DataFrame:
    """Reference: bare cp-measure on the same objects and families, renamed like :func:`measure_cellprofiler`.

    Mask-only families run once per object type; every other family once per object type and
    channel, as cp-measure's API asks.

    Parameters
    ----------
    segmentation : Segmentation
        The site's nuclei, cells and cytoplasm.
    images : mapping of str to numpy.ndarray
        Channel name -> (M, N) image on the intensity contract.
    families : iterable of str, optional
        Feature families to measure, all of :data:`FAMILIES` by default.

    Returns
    -------
    polars.DataFrame
        One row per object, as :func:`measure_cellprofiler` returns it.
    """
    families = _check_families(families)
    clean, channels = _prepare(segmentation, images)
    core = get_core_measurements(legacy=True, sanitize=False)
    columns: dict[str, dict[str, np.ndarray]] = {obj: {} for obj in COMPARTMENTS}
    probe = next(iter(channels.values()), np.zeros(clean["Cells"][0].shape))
    for obj in COMPARTMENTS:
        labels, ids = clean[obj]
        if ids.size == 0:
            continue
        columns[obj].update(_mask_families(families, core, labels, probe))
        for family in CHANNEL_FAMILIES:
            if family not in families:
                continue
            function: Callable = core[family]
            for channel, image in channels.items():
                with np.errstate(invalid="ignore", divide="ignore"):
                    result = function(labels, image)
                for name, values in result.items():
                    columns[obj][cellprofiler_name(family, name, channel)] = values
    return _assemble(columns, {obj: clean[obj][1] for obj in COMPARTMENTS})


def _object_prefixes(columns: Iterable[str]) -> list[str]:
    prefixes = []
    for column in columns:
        head = column.split("_", 1)[0]
        if "_" in column and head not in prefixes and head not in ("Metadata", "Count", "Mean"):
            prefixes.append(head)
    return prefixes


def mean_table(per_object: pl.DataFrame, by: str | list[str] | None = None) -> pl.DataFrame:
    """ExportToSpreadsheet's per-image means of a per-object table.

    Parameters
    ----------
    per_object : pl.DataFrame
        Rows are objects, columns ``<Object>_<Measurement>`` (as from
        :func:`measure_cellprofiler`), plus optional key columns.
    by : str or list of str, optional
        Image keys; default ``ImageNumber`` and ``Metadata_*`` columns present (none: one image).

    Returns
    -------
    pl.DataFrame
        Keys, ``Count_<Object>`` (objects with a non-null measurement) and
        ``Mean_<Object>_<Measurement>`` (mean over objects; NaN values are skipped).
    """
    keys, features = image_keys_and_features(per_object, by)
    counts = []
    for obj in _object_prefixes(features):
        own = [c for c in features if c.startswith(f"{obj}_")]
        present = pl.any_horizontal([pl.col(c).is_not_null() for c in own])
        counts.append(present.sum().cast(pl.Int64).alias(f"Count_{obj}"))
    return per_image_means(per_object, keys, features, counts=counts, skip="nan")

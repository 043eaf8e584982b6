"""The study's own per-cell features: scikit-image ``regionprops`` named in CellProfiler style.

One row per cell: ``ObjectNumber`` is the label a cell shares with its nucleus and cytoplasm
(cell ``k`` holds nucleus ``k``, cytoplasm ``k`` is the cell without its nucleus). For each
compartment (Nuclei, Cells, Cytoplasm) the table has AreaShape columns
(``Cells_AreaShape_Area``, ...) and, per channel, Intensity columns
(``Nuclei_Intensity_MeanIntensity_DNA``, ...). Everything goes through
:func:`skimage.measure.regionprops_table`, which is vectorised over objects.

These are *not* CellProfiler's numbers (regionprops' perimeter, orientation and moments follow
scikit-image conventions; see :mod:`morph_assets.lib.features.cellprofiler` for the faithful
set); they only borrow the naming so that both tables read alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import numpy as np
import polars as pl
from scipy.spatial.distance import pdist
from skimage.measure import regionprops_table

from morph_assets.lib.features._per_image import image_keys_and_features, per_image_means
from morph_assets.lib.plates import contract_image

COMPARTMENTS: tuple[str, ...] = ("Nuclei", "Cells", "Cytoplasm")

#: regionprops property -> CellProfiler-style AreaShape feature name.
AREASHAPE_PROPERTIES: dict[str, str] = {
    "area": "Area",
    "area_convex": "ConvexArea",
    "area_bbox": "BoundingBoxArea",
    "perimeter": "Perimeter",
    "eccentricity": "Eccentricity",
    "solidity": "Solidity",
    "extent": "Extent",
    "axis_major_length": "MajorAxisLength",
    "axis_minor_length": "MinorAxisLength",
    "orientation": "Orientation",
    "equivalent_diameter_area": "EquivalentDiameter",
    "euler_number": "EulerNumber",
    "feret_diameter_max": "MaxFeretDiameter",
}
#: regionprops intensity property -> CellProfiler-style Intensity feature name.
INTENSITY_PROPERTIES: dict[str, str] = {
    "intensity_mean": "MeanIntensity",
    "intensity_min": "MinIntensity",
    "intensity_max": "MaxIntensity",
    "intensity_std": "StdIntensity",
}


class Segmentation(Protocol):
    """What the measurements need from a segmentation: three label images, shared labels.

    Attributes
    ----------
    nuclei, cells, cytoplasm : numpy.ndarray
        (M, N) integer label images of one site; label ``k`` is the same cell in all three.
    """

    nuclei: np.ndarray
    cells: np.ndarray
    cytoplasm: np.ndarray


def compartment_labels(segmentation: Segmentation) -> dict[str, np.ndarray]:
    """Return ``{"Nuclei": ..., "Cells": ..., "Cytoplasm": ...}`` as int32 label images.

    Parameters
    ----------
    segmentation : Segmentation
        Any object with ``nuclei``, ``cells`` and ``cytoplasm`` label images.

    Returns
    -------
    dict of str to numpy.ndarray
        The three (M, N) int32 label images, keyed by CellProfiler's object names.

    Raises
    ------
    ValueError
        If the images are not 2-D or not of one shape.
    """
    labels = {
        "Nuclei": np.asarray(segmentation.nuclei),
        "Cells": np.asarray(segmentation.cells),
        "Cytoplasm": np.asarray(segmentation.cytoplasm),
    }
    shapes = {image.shape for image in labels.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"label images must be 2-D and of one shape, got {sorted(shapes)}")
    return {name: image.astype(np.int32, copy=False) for name, image in labels.items()}


def _float_images(images: Mapping[str, np.ndarray], shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    out = {}
    for name, image in images.items():
        image = np.asarray(image)
        if image.shape != shape:
            raise ValueError(f"image {name!r} has shape {image.shape}, labels have {shape}")
        out[name] = contract_image(image, f"image {name!r}")
    return out


def _feret_diameter_max(convex: np.ndarray) -> float:
    """regionprops' ``feret_diameter_max`` of an object from its convex image, without ``find_contours``.

    regionprops takes the largest distance between the points of the 0.5-level contours of the
    (zero-padded) convex image. On a 0/1 image those points are exactly the midpoints between
    4-neighbours that differ (linear interpolation halfway between 0 and 1), every such
    midpoint on some contour; here they are listed directly. Their coordinates are halves, so
    the squared distances are exact and their maximum is the same number whatever the order.

    Parameters
    ----------
    convex : numpy.ndarray
        The object's convex image (regionprops' ``image_convex``), bool.

    Returns
    -------
    float
        The maximum Feret diameter, as regionprops computes it.
    """
    padded = np.pad(convex, 1)
    down_y, down_x = np.nonzero(padded[1:, :] != padded[:-1, :])  # between rows y and y + 1
    right_y, right_x = np.nonzero(padded[:, 1:] != padded[:, :-1])  # between columns x and x + 1
    points = np.concatenate([
        np.stack([down_y + 0.5, down_x.astype(np.float64)], axis=-1),
        np.stack([right_y.astype(np.float64), right_x + 0.5], axis=-1),
    ])
    return float(np.sqrt(np.max(pdist(points, "sqeuclidean"))))


def _intensity_columns(labels: np.ndarray, object_numbers: np.ndarray, stacked: np.ndarray) -> dict[str, np.ndarray]:
    """regionprops' ``intensity_{mean,min,max,std}`` of every object and channel at once.

    The pixels are grouped by object (row-major within an object, the order in which
    regionprops reads a bounding-box crop), and each statistic is the numpy reduction regionprops
    applies per object, on the same (pixels, channels) array, so the numbers are equal bit for
    bit (numpy sums such an array along its first axis in its own order, hence ``np.mean`` and
    ``np.std`` per object rather than one ``add.reduceat``, which differs in the last bits).

    Parameters
    ----------
    labels : numpy.ndarray
        (M, N) int32 label image.
    object_numbers : numpy.ndarray
        Labels present in ``labels`` (above 0), ascending: regionprops' rows.
    stacked : numpy.ndarray
        (M * N, C) float64 pixels, one column per channel.

    Returns
    -------
    dict of str to numpy.ndarray
        ``"intensity_mean"``, ... -> (objects, C) float64.
    """
    flat = labels.ravel()
    index = np.flatnonzero(flat)
    index = index[np.argsort(flat[index], kind="stable")]  # by object, row-major within
    counts = np.bincount(flat[index])[object_numbers]
    starts = np.cumsum(counts) - counts
    values = stacked[index]
    mean = np.empty((object_numbers.size, stacked.shape[1]))
    std = np.empty_like(mean)
    for row, (start, count) in enumerate(zip(starts.tolist(), counts.tolist())):
        own = values[start:start + count]  # the (pixels, channels) array regionprops reduces
        mean[row] = np.mean(own, axis=0)
        std[row] = np.std(own, axis=0)
    return {
        "intensity_mean": mean,
        "intensity_min": np.minimum.reduceat(values, starts, axis=0),
        "intensity_max": np.maximum.reduceat(values, starts, axis=0),
        "intensity_std": std,
    }


def _measure_compartment(
    compartment: str, labels: np.ndarray, channels: list[str], stacked: np.ndarray | None
) -> pl.DataFrame:
    # Shape properties from regionprops (per object); intensity ones for all objects and channels
    # at once (_intensity_columns), which regionprops would compute per object and channel;
    # feret_diameter_max from the convex images regionprops computes anyway (_feret_diameter_max).
    shape_properties = [prop for prop in AREASHAPE_PROPERTIES if prop != "feret_diameter_max"]
    table = regionprops_table(labels, properties=["label", *shape_properties, "image_convex"])
    table["feret_diameter_max"] = np.array([_feret_diameter_max(image) for image in table["image_convex"]],
                                           dtype=np.float64)
    object_numbers = np.asarray(table["label"], dtype=np.int64)
    columns: dict[str, np.ndarray] = {"ObjectNumber": object_numbers}
    for prop, name in AREASHAPE_PROPERTIES.items():
        columns[f"{compartment}_AreaShape_{name}"] = np.asarray(table[prop], dtype=np.float64)
    area = columns[f"{compartment}_AreaShape_Area"]
    if channels and object_numbers.size:
        intensity = _intensity_columns(labels, object_numbers, stacked)
        for prop, name in INTENSITY_PROPERTIES.items():
            for index, channel in enumerate(channels):
                columns[f"{compartment}_Intensity_{name}_{channel}"] = np.ascontiguousarray(intensity[prop][:, index])
    elif channels:
        for name in INTENSITY_PROPERTIES.values():
            for channel in channels:
                columns[f"{compartment}_Intensity_{name}_{channel}"] = np.zeros(0)
    for channel in channels:
        mean = columns[f"{compartment}_Intensity_MeanIntensity_{channel}"]
        columns[f"{compartment}_Intensity_IntegratedIntensity_{channel}"] = mean * area
    return pl.DataFrame(columns)


def measure_regionprops(segmentation: Segmentation, images: Mapping[str, np.ndarray]) -> pl.DataFrame:
    """Measure every cell's AreaShape and Intensity features in the three compartments.

    Parameters
    ----------
    segmentation : Segmentation
        ``nuclei``, ``cells`` and ``cytoplasm`` label images (cell ``k`` has nucleus ``k`` and
        cytoplasm ``k``).
    images : Mapping[str, np.ndarray]
        Channel name (e.g. ``"DNA"``) -> 2-D image of the labels' shape, on the intensity
        contract (:func:`morph_assets.lib.plates.contract_image`): uint8/uint16/int16 are
        mapped to it (uint16 / 65535), floats are taken as already on it.

    Returns
    -------
    pl.DataFrame
        One row per cell label, sorted by ``ObjectNumber``; a compartment a cell lacks (e.g. a
        cytoplasm fully covered by the nucleus) has nulls.

    Raises
    ------
    ValueError
        If the labels are not 2-D of one shape, an image has another shape, or a float image
        holds NaN, infinite or negative pixels (one line naming the channel).
    """
    labels = compartment_labels(segmentation)
    shape = labels["Cells"].shape
    float_images = _float_images(images, shape)
    object_numbers = np.unique(np.concatenate([np.unique(image) for image in labels.values()]))
    result = pl.DataFrame({"ObjectNumber": object_numbers[object_numbers > 0].astype(np.int64)})
    channels = list(float_images)
    # (pixels, channels), built once for the three compartments
    stacked = np.stack([float_images[name].ravel() for name in channels], axis=-1) if channels else None
    for compartment in COMPARTMENTS:
        table = _measure_compartment(compartment, labels[compartment], channels, stacked)
        result = result.join(table, on="ObjectNumber", how="left")
    return result.sort("ObjectNumber")


def image_aggregates(objects: pl.DataFrame, by: str | list[str] | None = None) -> pl.DataFrame:
    """Aggregate a per-object table to one row per image: object count and feature means.

    Parameters
    ----------
    objects : pl.DataFrame
        Per-object table, e.g. from :func:`measure_regionprops`, optionally with key columns.
    by : str or list of str, optional
        Image key columns. Default: ``ImageNumber`` and every ``Metadata_*`` column present;
        ``[]`` (or none of them present) makes the whole table one image.

    Returns
    -------
    pl.DataFrame
        Key columns, ``Count_Objects`` (rows) and ``Count_<Compartment>`` (non-null objects per
        compartment found in the columns), all Int64, then ``Mean_<feature>`` (Float64) for every
        numeric feature. Without keys there is always one row: a table without objects (a
        cell-less site) gives counts 0 and null means, as CellProfiler's per-image table does.
        With keys, images are the key values present, so an image without objects has no row.
    """
    keys, features = image_keys_and_features(objects, by)
    counts = [pl.len().cast(pl.Int64).alias("Count_Objects")]
    for compartment in COMPARTMENTS:
        area = f"{compartment}_AreaShape_Area"
        if area in objects.columns:
            counts.append(pl.col(area).is_not_null().sum().cast(pl.Int64).alias(f"Count_{compartment}"))
    return per_image_means(objects, keys, features, counts=counts)

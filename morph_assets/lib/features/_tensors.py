"""Small fixed-size tensors of a site's channels plus its cell mask, the input of image models.

A study trained a CNN and a VAE on a grayscale image plus the Cellpose mask. We keep the five Cell
Painting channels (grayscale is their mean, see :func:`grayscale`) and add the cell-foreground
fraction as the last plane, each downsampled by area averaging to ``size x size``.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from skimage.transform import downscale_local_mean

from morph_assets.lib.io import atomic_write

CHANNEL_ORDER: tuple[str, ...] = ("DNA", "ER", "RNA", "AGP", "Mito")
ROBUST_PERCENTILE = 99.9


def _area_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) matrix whose row i averages the input pixels overlapping output bin i, by overlap length."""
    edges = np.linspace(0.0, n_in, n_out + 1)
    pixel_starts = np.arange(n_in, dtype=np.float64)
    overlap = np.minimum(edges[1:, None], pixel_starts + 1) - np.maximum(edges[:-1, None], pixel_starts)
    weights = np.clip(overlap, 0.0, None)
    return weights / weights.sum(axis=1, keepdims=True)


def area_downsample(image: np.ndarray, size: int) -> np.ndarray:
    """Resize a 2-D image to ``(size, size)`` by exact area averaging.

    Parameters
    ----------
    image : (M, N) ndarray
        Image to resize.
    size : int
        Output side length.

    Returns
    -------
    (size, size) float32 ndarray
        Each output pixel is the mean of the input area it covers (partial pixels weighted by overlap),
        so a mean of a 0/1 image is a fraction in [0, 1]. Equals ``downscale_local_mean`` when the
        sides are multiples of ``size``.

    Examples
    --------
    >>> area_downsample(np.arange(16, dtype=float).reshape(4, 4), 2).tolist()
    [[2.5, 4.5], [10.5, 12.5]]
    """
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {image.shape}")
    rows, cols = image.shape
    if rows % size == 0 and cols % size == 0:
        # integer block means are exact and much cheaper than the weight matrices
        return downscale_local_mean(image, (rows // size, cols // size)).astype(np.float32)
    row_weights = _area_weights(rows, size).astype(np.float32)
    col_weights = _area_weights(cols, size).astype(np.float32)
    return row_weights @ image @ col_weights.T


def robust_scale(image: np.ndarray) -> np.ndarray:
    """Divide an image by its 99.9th percentile and clip to [0, 1] (a few saturated pixels don't set the scale).

    Parameters
    ----------
    image : (M, N) ndarray
        Intensities on any scale: the pipeline's contract-scale floats (illumination-corrected
        values above 1 included) or raw counts give the same result, the percentile setting it.

    Returns
    -------
    (M, N) float32 ndarray
        Scaled intensities in [0, 1]; all zeros when the percentile is not positive (a blank image).
    """
    values = np.asarray(image, dtype=np.float32)
    high = float(np.percentile(values, ROBUST_PERCENTILE))
    if not np.isfinite(high) or high <= 0:
        return np.zeros_like(values)
    return np.clip(values / np.float32(high), 0.0, 1.0)


def site_tensor(
    images: Mapping[str, np.ndarray],
    cell_labels: np.ndarray,
    *,
    size: int = 64,
    channels: Sequence[str] = CHANNEL_ORDER,
) -> np.ndarray:
    """Stack a site's robust-scaled, area-downsampled channels and its cell-foreground fraction.

    Parameters
    ----------
    images : mapping of str to (M, N) ndarray
        Channel name -> image of one site (as :func:`morph_assets.lib.features.load_site` gives it).
    cell_labels : (M, N) integer ndarray
        Cell label image, 0 for background.
    size : int, default 64
        Output side length.
    channels : sequence of str, default :data:`CHANNEL_ORDER`
        Channels to stack, in this order.

    Returns
    -------
    (len(channels) + 1, size, size) float16 ndarray
        Image planes scaled by :func:`robust_scale` then area-averaged; the last plane is the fraction
        of each output pixel covered by cells. All values lie in [0, 1].

    Raises
    ------
    ValueError
        When a channel is missing, shapes differ, or ``size`` is not positive.
    """
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    if len(channels) == 0:
        raise ValueError("channels must name at least one channel")
    labels = np.asarray(cell_labels)
    if labels.ndim != 2:
        raise ValueError(f"cell_labels must be 2-D, got shape {labels.shape}")
    planes = []
    for name in channels:
        if name not in images:
            raise ValueError(f"channel {name!r} missing from images (have {sorted(images)})")
        image = np.asarray(images[name])
        if image.shape != labels.shape:
            raise ValueError(f"channel {name!r} has shape {image.shape}, cell_labels has {labels.shape}")
        planes.append(area_downsample(robust_scale(image), size))
    planes.append(area_downsample((labels > 0).astype(np.float32), size))
    return np.clip(np.stack(planes), 0.0, 1.0).astype(np.float16)


def _check_batch(tensor_batch: np.ndarray, n_image_channels: int) -> np.ndarray:
    batch = np.asarray(tensor_batch)
    if batch.ndim != 4 or batch.shape[1] != n_image_channels + 1:
        raise ValueError(
            f"expected shape (N, {n_image_channels + 1}, s, s) for {n_image_channels} image channels + mask, "
            f"got {batch.shape}"
        )
    return batch


def _channel_mean(batch: np.ndarray, n_image_channels: int) -> np.ndarray:
    # float32 accumulation: a float16 sum of five planes loses precision
    return batch[:, :n_image_channels].astype(np.float32).mean(axis=1, keepdims=True).astype(batch.dtype)


def grayscale(tensor_batch: np.ndarray, n_image_channels: int) -> np.ndarray:
    """Mean of the image channels, the study's grayscale image.

    Parameters
    ----------
    tensor_batch : (N, C + 1, s, s) ndarray
        Stacked :func:`site_tensor` outputs (C image channels, then the mask plane).
    n_image_channels : int
        C, the number of image channels.

    Returns
    -------
    (N, 1, s, s) ndarray
        Channel mean, in the input's dtype.
    """
    return _channel_mean(_check_batch(tensor_batch, n_image_channels), n_image_channels)


def with_mask(tensor_batch: np.ndarray, n_image_channels: int, *, grayscale: bool) -> np.ndarray:
    """Model input: the grayscale image plus the mask plane, or all channels plus the mask plane.

    Parameters
    ----------
    tensor_batch : (N, C + 1, s, s) ndarray
        Stacked :func:`site_tensor` outputs.
    n_image_channels : int
        C, the number of image channels.
    grayscale : bool
        True for the study's (N, 2, s, s) input; False keeps all C channels, (N, C + 1, s, s).

    Returns
    -------
    ndarray
        The chosen planes, mask last, in the input's dtype.
    """
    batch = _check_batch(tensor_batch, n_image_channels)
    if not grayscale:
        return batch.copy()
    return np.concatenate([_channel_mean(batch, n_image_channels), batch[:, n_image_channels:]], axis=1)


def save_well_tensors(path: str | Path, tensors: np.ndarray, sites: Sequence[int]) -> Path:
    """Write one well's site tensors as a compressed ``.npz`` that appears whole or not at all.

    Parameters
    ----------
    path : path-like
        Destination file; parent folders are created.
    tensors : (S, P, s, s) ndarray
        One :func:`site_tensor` per site.
    sites : sequence of int
        Site number of each tensor.

    Returns
    -------
    pathlib.Path
        The destination path.
    """
    tensors = np.asarray(tensors)
    site_array = np.asarray(sites, dtype=np.int64)
    if site_array.ndim != 1 or len(site_array) != len(tensors):
        raise ValueError(f"need one site per tensor: {len(tensors)} tensors, sites of shape {site_array.shape}")

    return atomic_savez(path, {"tensors": tensors, "sites": site_array}, compress=True)


def atomic_savez(path: str | Path, arrays: Mapping[str, np.ndarray], *, compress: bool) -> Path:
    """Write named arrays as one ``.npz`` that appears whole or not at all (:func:`atomic_write`).

    Parameters
    ----------
    path : path-like
        Destination file; parent folders are created.
    arrays : mapping of str to ndarray
        Name -> array; no object arrays (files are read back without pickle).
    compress : bool
        True for ``np.savez_compressed`` (zlib), False for ``np.savez`` (stored, fastest to read).

    Returns
    -------
    pathlib.Path
        The destination path.
    """
    save = np.savez_compressed if compress else np.savez

    def write(temporary: Path) -> None:
        # a file handle stops numpy from appending ".npz" to the temporary name
        with open(temporary, "wb") as handle:
            save(handle, **arrays)

    return atomic_write(path, write)


def load_well_tensors(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a file written by :func:`save_well_tensors`.

    Parameters
    ----------
    path : path-like
        The ``.npz`` file.

    Returns
    -------
    tensors : (S, P, s, s) ndarray
        Site tensors.
    sites : (S,) int64 ndarray
        Site numbers.

    Raises
    ------
    ValueError
        Naming the file when it cannot be read or lacks the ``tensors`` or ``sites`` arrays.
    """
    path = Path(path)
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as error:
        raise ValueError(f"cannot read well tensors from {path}: {error}") from error
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise ValueError(f"{path} is a single array, not a well-tensor .npz archive")
    with loaded as archive:
        missing = {"tensors", "sites"} - set(archive.files)
        if missing:
            raise ValueError(f"{path} lacks arrays {sorted(missing)}")
        try:
            return archive["tensors"], archive["sites"]
        except (OSError, EOFError, ValueError, zipfile.BadZipFile) as error:
            raise ValueError(f"cannot read well tensors from {path}: {error}") from error

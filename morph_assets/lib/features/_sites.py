"""Loading one site's channels as illumination-corrected float images, as measurements need them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from morph_assets.lib.plates import ImageReadError, read_image, read_scaled_image
from morph_assets.lib.segment import apply_illumination_function


def load_illumination(files: Mapping[str, str]) -> dict[str, np.ndarray]:
    """Read illumination functions keyed by channel name.

    Parameters
    ----------
    files : mapping of str to path-like
        Channel name -> float TIFF of the flat-field function (dimensionless, about 1).

    Returns
    -------
    dict of str to (M, N) float32 ndarray
        The functions, unscaled: a flat-field function is a ratio, not an intensity.

    Raises
    ------
    ImageReadError
        Naming the file when it cannot be read or is not finite and positive everywhere
        (dividing by it would give infinite or negative intensities).
    """
    functions = {}
    for name, path in files.items():
        function = read_image(path).astype(np.float32)
        if not np.all(np.isfinite(function) & (function > 0)):
            raise ImageReadError(
                path, f"illumination function of {name} has {int(np.count_nonzero(~(function > 0)))} pixel(s) that are "
                "not positive finite numbers; re-run illumination_correction for the plate"
            )
        functions[name] = function
    return functions


def load_site(
    image_rows: Sequence[Mapping[str, object]],
    illumination: Mapping[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Read one site's channels onto the intensity contract and divide by the illumination function.

    Parameters
    ----------
    image_rows : sequence of mapping
        The site's rows of a plate image index (``channel_name`` and ``path`` are used).
    illumination : mapping of str to (M, N) ndarray, optional
        Flat-field function per channel name; channels without one are left uncorrected.

    Returns
    -------
    dict of str to (M, N) float32 ndarray
        Channel name -> corrected image: 0 black, 1 the file's full scale
        (:func:`morph_assets.lib.plates.scale_image`: uint8 / 255, uint16 / 65535, as CellProfiler
        loads them, so intensities are comparable with CellProfiler's). Where the flat-field
        function is below 1, bright pixels end above 1; they are kept (every measurement accepts
        them, see :mod:`morph_assets.lib.features.cellprofiler` for the one that clips).

    Raises
    ------
    ImageReadError
        Naming the file when an image cannot be read or mapped onto the contract.
    """
    images: dict[str, np.ndarray] = {}
    for row in image_rows:
        scaled = read_scaled_image(str(row["path"]))
        name = str(row["channel_name"])
        function = None if illumination is None else illumination.get(name)
        if function is not None and function.shape != scaled.shape:
            raise ImageReadError(
                str(row["path"]), f"image of shape {scaled.shape} does not match the {name} illumination function "
                f"of shape {function.shape}; every site of a plate must have one size (re-run illumination_correction)"
            )
        images[name] = apply_illumination_function(scaled, function) if function is not None else scaled
    return images

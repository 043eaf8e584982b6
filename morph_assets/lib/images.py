"""Reading Cell Painting images and measuring per-image pixel statistics and focus.

The statistics are the study's "pixel statistics" (mean, std, min, max) plus two QC measures
used in production Cell Painting: the saturated fraction (CellProfiler ImageQuality
``PercentMaximal``) and a focus score (CellProfiler ImageQuality ``PowerLogLogSlope``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

#: Column names of :func:`pixel_statistics`, in order.
PIXEL_STATISTICS: tuple[str, ...] = (
    "mean_intensity",
    "std_intensity",
    "min_intensity",
    "max_intensity",
    "saturated_fraction",
    "power_log_log_slope",
)


class ImageReadError(ValueError):
    """An image file that cannot be used: unreadable, corrupt, or of the wrong shape or type.

    Parameters
    ----------
    path : path-like
        The offending file.
    reason : str
        What is wrong with it.
    """

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason

    def __reduce__(self):  # keep both arguments when the error crosses a process boundary
        return (type(self), (self.path, self.reason))


def read_image(path: Path | str) -> np.ndarray:
    """Read one single-plane microscopy image.

    Parameters
    ----------
    path : path-like
        A TIFF file holding one 2-D plane.

    Returns
    -------
    (M, N) ndarray
        The pixels, in the file's integer or float dtype.

    Raises
    ------
    ImageReadError
        If the file is missing, not a readable TIFF, or not a single 2-D plane; the message names
        the file and what is wrong.
    """
    path = Path(path)
    try:
        image = tifffile.imread(path)
    except FileNotFoundError as error:
        raise ImageReadError(path, "file not found") from error
    except Exception as error:  # tifffile raises many types for truncated or foreign files
        raise ImageReadError(path, f"not a readable TIFF ({type(error).__name__}: {error})") from error
    image = np.asarray(image)
    if image.size == 0:
        raise ImageReadError(path, "holds no pixel data (truncated or corrupt TIFF)")
    if image.ndim == 3 and image.shape[0] == 1:
        image = image[0]
    if image.ndim != 2:
        raise ImageReadError(path, f"expected one 2-D plane, found an array of shape {image.shape}")
    if not (np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)):
        raise ImageReadError(path, f"unsupported pixel type {image.dtype}")
    if min(image.shape) < 8:
        raise ImageReadError(path, f"image of shape {image.shape} is too small to be a site")
    return image


def saturation_value(dtype: np.dtype) -> float:
    """Return the value a saturated pixel takes for ``dtype`` (integer max, or 1.0 for floats)."""
    dtype = np.dtype(dtype)
    return float(np.iinfo(dtype).max) if np.issubdtype(dtype, np.integer) else 1.0


def power_log_log_slope(image: np.ndarray) -> float:
    """Return the slope of the radially averaged power spectrum on log-log axes.

    Sharp images keep power at high spatial frequencies, so their slope is shallower (closer to
    zero) than that of blurred images; CellProfiler reports this as ``PowerLogLogSlope``, the
    field's usual focus score. For natural-like images with power ``~ f**-a`` the slope is ``-a``.

    Parameters
    ----------
    image : (M, N) ndarray
        A single image plane.

    Returns
    -------
    float
        Least-squares slope of ``log(power)`` against ``log(frequency)`` over every radial
        frequency bin from 4 cycles per image to the Nyquist limit of the Hann-windowed image; NaN for a constant
        image. On noise-free synthetic images blurred by more than ~3 px the window's own
        leakage sets a floor near -10; camera noise keeps real images far from it.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> abs(power_log_log_slope(rng.normal(size=(256, 256)))) < 0.1  # white noise: flat spectrum
    True
    """
    pixels = np.asarray(image, dtype=np.float64)
    pixels = pixels - pixels.mean()
    if not np.any(pixels):
        return float("nan")
    rows, cols = pixels.shape
    # A Hann window: without it the jump between opposite image edges (the FFT wraps around)
    # adds high-frequency power, and a badly blurred image would score as sharper.
    window = np.outer(np.hanning(rows), np.hanning(cols))
    power = np.abs(np.fft.fftshift(np.fft.fft2(pixels * window))) ** 2
    y, x = np.indices(power.shape)
    # Radius in cycles per image along the shorter axis, so non-square images share a scale.
    radius = np.hypot((y - rows // 2) * (min(rows, cols) / rows), (x - cols // 2) * (min(rows, cols) / cols))
    bins = np.rint(radius).astype(np.int64)
    nyquist = min(rows, cols) // 2
    sums = np.bincount(bins.ravel(), weights=power.ravel(), minlength=nyquist + 1)[: nyquist + 1]
    counts = np.bincount(bins.ravel(), minlength=nyquist + 1)[: nyquist + 1]
    # The window smears each frequency over its neighbours (main lobe 2 bins wide): start the fit
    # at 4 cycles per image, where that smearing no longer flattens the spectrum.
    lowest = min(4, max(1, nyquist // 4))
    frequencies = np.arange(lowest, nyquist + 1)
    radial_power = sums[lowest:] / np.maximum(counts[lowest:], 1)
    # Bins at double-precision round-off carry no signal (only reached by noise-free synthetic blur).
    usable = radial_power > radial_power.max() * 1e-24
    if usable.sum() < 2:
        return float("nan")
    slope, _ = np.polyfit(np.log(frequencies[usable]), np.log(radial_power[usable]), 1)
    return float(slope)


def pixel_statistics(image: np.ndarray) -> dict[str, float]:
    """Return the per-image pixel statistics and QC measures.

    Parameters
    ----------
    image : (M, N) ndarray
        A single image plane.

    Returns
    -------
    dict of str to float
        :data:`PIXEL_STATISTICS`: mean, standard deviation, minimum and maximum intensity in the
        image's own units; the fraction of pixels at the dtype's maximum (saturated); the
        power-log-log slope focus score.

    Examples
    --------
    >>> stats = pixel_statistics(np.array([[0, 65535], [1, 2]] * 8, dtype=np.uint16))
    >>> stats["saturated_fraction"], stats["max_intensity"]
    (0.25, 65535.0)
    """
    pixels = np.asarray(image)
    as_float = pixels.astype(np.float64, copy=False)
    return {
        "mean_intensity": float(as_float.mean()),
        "std_intensity": float(as_float.std()),
        "min_intensity": float(as_float.min()),
        "max_intensity": float(as_float.max()),
        "saturated_fraction": float(np.count_nonzero(pixels >= saturation_value(pixels.dtype)) / pixels.size),
        "power_log_log_slope": power_log_log_slope(pixels),
    }

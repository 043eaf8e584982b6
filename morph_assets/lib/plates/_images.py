"""Reading Cell Painting images onto one intensity scale, and per-image pixel statistics and focus.

The intensity contract
----------------------
Every image the pipeline measures is read onto ONE scale, whatever the file's pixel type:
0 is black and 1 is the full scale of the acquisition, as CellProfiler's image loading does
for unsigned integer files (divided by their type's largest value: ``FileImage.normalize_to_float32``
in ``cellprofiler_core/image/abstract_image/file/_file_image.py``, CellProfiler main at commit
5b9c361, 5.0.0 development; ``Image.set_image`` in CellProfiler 4). :func:`scale_image` applies
it to an array, :func:`read_scaled_image` to a file, and every read path of the measurements goes
through them (``site_images.load_site``, ``raw_images``, the illumination estimate). The
contract values are float32.

==========================  ==================================================================
file pixel type             contract value
==========================  ==================================================================
uint8                       ``v / 255``
uint16                      ``v / 65535`` (a 12- or 14-bit camera stored in uint16 stays dim, as
                            in CellProfiler)
int16                       ``v / 32767``, the type's positive full scale; negative values are
                            refused. (CellProfiler shifts signed types, ``(v + 32768) / 65535``,
                            which puts a black pixel at mid-grey; fluorescence counts are never
                            negative, so an int16 file is a 15-bit count container, and a negative
                            value means a uint16 file written as signed, whose bright pixels
                            wrapped around.)
float16/32/64, max <= 2     unchanged: already on the contract scale (CellProfiler's convention
                            for floats in [0, 1]; values in (1, 2] are the bright pixels of a
                            flat-field corrected image, see :data:`UNIT_FLOAT_MAX`)
float, max > 2, counts:     camera counts of a 16-bit pipeline: ``v / 65535``
every value whole, or 99th  (:data:`FLOAT_COUNTS_FULL_SCALE`); a maximum above 65535 is refused
percentile above 2
float, max > 2, otherwise   unchanged: a contract-scale image with a few pixels above 2 (hot
                            pixels, a deep dip of the flat field)
==========================  ==================================================================

The float rule is decided per file from its values, as CellProfiler 5 decides it from its
range; for floats above 1 CellProfiler 5 assumes an unsigned integer of the float's width (a
float32 file divided by 2**32 - 1), which would put a 16-bit camera's counts below 2e-5 of full
scale and every texture level at 0, so the 16-bit full scale is taken instead. Contract-scale
images may pass 1 (divided by a flat-field function that dips to 0.5, bright pixels reach 2), so
the boundary is 2, and a maximum above 2 alone does not make counts: one hot pixel would turn
the whole site 65535 times darker. Counts are recognised by what cameras write, whole numbers,
or, once averaged or background-subtracted, by most of the image (its 99th percentile) lying
above 2 counts. A file of counts whose pixels are nearly all below 2 counts out of 65535 is
black either way, so nothing real is misread.

Refused, with :class:`ImageReadError` naming the file: negative values, NaN or infinite values,
stacks of more than one plane, other pixel types (int8, int32, uint32, 64-bit integers, bool,
complex, RGB). Illumination correction divides by a flat-field function that is below 1 in
places, so corrected images go *above* 1; every measurement accepts that (texture quantisation
clips at 1 as CellProfiler's default pipeline does, see :mod:`.cellprofiler_texture`).

Pixel statistics
----------------
The study's "pixel statistics" (mean, std, min, max) are reported on the contract scale, plus two
QC measures used in production Cell Painting: the saturated fraction (CellProfiler ImageQuality
``PercentMaximal``, here pixels at the full scale, contract value 1) and a focus score
(CellProfiler ImageQuality ``PowerLogLogSlope``).
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
#: Full scale of float files holding camera counts (maximum above 2): a 16-bit camera's largest count.
FLOAT_COUNTS_FULL_SCALE = 65535.0
#: Largest maximum of a float file read as already on the contract scale: a flat-field corrected
#: image keeps bright pixels above 1 (up to 1 / the function's minimum, about 2 in practice).
#: Above it, a float file is counts only if it looks like counts (see :func:`full_scale`).
UNIT_FLOAT_MAX = 2.0
#: Percentile of a float file that must pass :data:`UNIT_FLOAT_MAX` for non-whole values to be
#: read as counts: a few hot pixels (under 1 % of the image) never decide the scale.
COUNTS_PERCENTILE = 99.0
#: Integer pixel types the contract maps, with the raw value that becomes 1.0.
INTEGER_FULL_SCALE: dict[np.dtype, float] = {
    np.dtype(np.uint8): 255.0,
    np.dtype(np.uint16): 65535.0,
    np.dtype(np.int16): 32767.0,
}


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
    """Read one single-plane microscopy image as stored (see :func:`read_scaled_image` to measure it).

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
        raise ImageReadError(
            path, f"expected one 2-D plane, found an array of shape {image.shape}; save one grayscale plane per file"
        )
    if not (np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)):
        raise ImageReadError(path, f"unsupported pixel type {image.dtype}; save as uint8, uint16, int16 or float32")
    if min(image.shape) < 8:
        raise ImageReadError(path, f"image of shape {image.shape} is too small to be a site")
    return image


def full_scale(pixels: np.ndarray, path: Path | str = "<array>") -> float:
    """Return the raw value that the intensity contract maps to 1.0 for this image.

    Parameters
    ----------
    pixels : ndarray
        Raw pixels as read from a file (any shape).
    path : path-like, optional
        The file, named in errors.

    Returns
    -------
    float
        255 (uint8), 65535 (uint16), 32767 (int16); for floats
        :data:`FLOAT_COUNTS_FULL_SCALE` when they look like camera counts (maximum above
        :data:`UNIT_FLOAT_MAX` and every value a whole number or the :data:`COUNTS_PERCENTILE`
        th percentile above :data:`UNIT_FLOAT_MAX`), else 1 (already on the contract scale).

    Raises
    ------
    ImageReadError
        For pixels the contract cannot map (see the module docstring); the message names the
        file, the offending value and the fix.

    Examples
    --------
    >>> full_scale(np.zeros((2, 2), np.uint8)), full_scale(np.full((2, 2), 0.5)), full_scale(np.full((2, 2), 900.0))
    (255.0, 1.0, 65535.0)
    """
    pixels = np.asarray(pixels)
    dtype = pixels.dtype
    if dtype in INTEGER_FULL_SCALE:
        if dtype.kind == "i" and pixels.size and int(pixels.min()) < 0:
            raise ImageReadError(
                path, f"int16 image holds negative value {int(pixels.min())}; fluorescence counts are not negative "
                "(a uint16 file written as signed?): save it as uint16"
            )
        return INTEGER_FULL_SCALE[dtype]
    if dtype.kind != "f":
        raise ImageReadError(path, f"unsupported pixel type {dtype}; save as uint8, uint16, int16 or float32")
    if pixels.size == 0:
        return 1.0
    # min and max of a float array are NaN when any pixel is, so two reductions check everything
    low, high = float(np.min(pixels)), float(np.max(pixels))
    if not (np.isfinite(low) and np.isfinite(high)):
        bad = int(np.count_nonzero(~np.isfinite(pixels)))
        raise ImageReadError(path, f"{bad} pixel(s) are NaN or infinite; write finite intensities (0 for missing data)")
    if low < 0:
        raise ImageReadError(
            path, f"float image holds negative value {low:g}; intensities must be >= 0 "
            "(undo the background subtraction or clip at 0)"
        )
    if high <= UNIT_FLOAT_MAX:
        return 1.0
    if high > FLOAT_COUNTS_FULL_SCALE:
        raise ImageReadError(
            path, f"float image maximum {high:g} is above the 16-bit full scale {FLOAT_COUNTS_FULL_SCALE:g}; "
            "rescale it to [0, 1] or save the counts as uint16"
        )
    whole = bool(np.all(np.mod(pixels, 1) == 0))
    if whole or float(np.percentile(pixels, COUNTS_PERCENTILE)) > UNIT_FLOAT_MAX:
        return FLOAT_COUNTS_FULL_SCALE
    return 1.0


def scale_image(pixels: np.ndarray, path: Path | str = "<array>", dtype: type = np.float32) -> np.ndarray:
    """Map raw pixels onto the intensity contract (0 black, 1 full scale; see the module docstring).

    Parameters
    ----------
    pixels : ndarray
        Raw pixels as stored (uint8, uint16, int16 or float); a float image already on the
        contract scale (see :func:`full_scale`) comes back unchanged.
    path : path-like, optional
        The file the pixels came from, named in errors.
    dtype : numpy float type, optional
        float32 (default, what the measurements take) or float64 (for exact statistics).

    Returns
    -------
    ndarray
        ``pixels / full_scale(pixels)`` of the same shape, in ``dtype``; values in [0, 1], or
        above 1 for a float image that is already flat-field corrected.

    Raises
    ------
    ImageReadError
        For pixels the contract cannot map: negative values, NaN or infinity, a float maximum
        above 65535, an unsupported pixel type.

    Examples
    --------
    >>> scale_image(np.array([[0, 255]], np.uint8)).tolist()
    [[0.0, 1.0]]
    >>> scale_image(np.array([[0.0, 65535.0]], np.float32)).tolist()
    [[0.0, 1.0]]
    """
    scale = full_scale(pixels, path)
    scaled = np.asarray(pixels).astype(dtype)  # always a copy: callers may write into the result
    if scale != 1.0:
        scaled /= dtype(scale)
    return scaled


def contract_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Return an image handed to a measurement as float64 on the intensity contract.

    The measurements' entry point for arrays: integer pixels are unambiguous and are mapped by
    :func:`scale_image`; float pixels are taken as already on the contract scale, unchanged
    (an illumination-corrected image can pass 2, so its range cannot tell counts apart), and
    are only checked.

    Parameters
    ----------
    image : ndarray
        uint8, uint16 or int16 pixels as stored, or float pixels on the contract scale.
    name : str, optional
        The channel or file, named in errors.

    Returns
    -------
    ndarray of float64
        Same shape; a float64 input is returned without a copy.

    Raises
    ------
    ValueError
        One line naming ``name``: float pixels that are NaN, infinite or negative, or integer
        pixels the contract cannot map (:class:`ImageReadError`); the fix is to read files with
        :func:`read_scaled_image` or map arrays with :func:`scale_image`.

    Examples
    --------
    >>> contract_image(np.array([[0, 65535]], np.uint16)).tolist(), contract_image(np.array([[0.0, 2.5]])).tolist()
    ([[0.0, 1.0]], [[0.0, 2.5]])
    """
    image = np.asarray(image)
    if image.dtype.kind != "f":
        return scale_image(image, name, dtype=np.float64)
    if image.size and not (np.isfinite(image.min()) and np.isfinite(image.max()) and image.min() >= 0):
        bad = int(np.count_nonzero(~np.isfinite(image) | (image < 0)))
        raise ValueError(
            f"{name}: {bad} pixel(s) are NaN, infinite or negative, so the image is not on the intensity contract; "
            "read files with morph_assets.lib.plates.read_scaled_image or map arrays with scale_image"
        )
    return image.astype(np.float64, copy=False)


def read_scaled_image(path: Path | str, dtype: type = np.float32) -> np.ndarray:
    """Read one single-plane image onto the intensity contract: :func:`read_image` then :func:`scale_image`.

    Parameters
    ----------
    path : path-like
        A TIFF file holding one 2-D plane.
    dtype : numpy float type, optional
        float32 (default, what the measurements take) or float64.

    Returns
    -------
    (M, N) ndarray of ``dtype``
        Intensities in [0, 1] (1 = full scale of the file's type, see the module docstring).

    Raises
    ------
    ImageReadError
        If the file cannot be read or its pixels cannot be mapped; the message names the file.
    """
    return scale_image(read_image(path), path, dtype)


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


def pixel_statistics(image: np.ndarray, path: Path | str = "<array>") -> dict[str, float]:
    """Return the per-image pixel statistics and QC measures, on the intensity contract's scale.

    Parameters
    ----------
    image : (M, N) or (1, M, N) ndarray
        A single image plane as stored in its file (any pixel type the contract maps; floats
        follow the file rule of :func:`full_scale`), or already on the contract scale.
    path : path-like, optional
        The file, named in errors.

    Returns
    -------
    dict of str to float
        :data:`PIXEL_STATISTICS`: mean, standard deviation, minimum and maximum intensity as
        fractions of the full scale (:func:`scale_image`, computed in float64); the fraction of
        pixels at the full scale (saturated; the same for a uint16 file and a float file holding
        the same counts); the power-log-log slope focus score (unchanged by the scaling).

    Raises
    ------
    ImageReadError
        For pixels the contract cannot map, or an array that is not one 2-D plane.

    Examples
    --------
    >>> stats = pixel_statistics(np.array([[0, 65535], [1, 2]] * 8, dtype=np.uint16))
    >>> stats["saturated_fraction"], stats["max_intensity"]
    (0.25, 1.0)
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[0] == 1:
        image = image[0]  # one plane saved as a stack, as read_image squeezes it
    if image.ndim != 2:
        raise ImageReadError(path, f"expected one 2-D plane, found an array of shape {image.shape}; pass one plane")
    scaled = scale_image(image, path, dtype=np.float64)
    return {
        "mean_intensity": float(scaled.mean()),
        "std_intensity": float(scaled.std()),
        "min_intensity": float(scaled.min()),
        "max_intensity": float(scaled.max()),
        # v / full == 1 exactly for v == full and below 1 otherwise (IEEE division is exact there)
        "saturated_fraction": float(np.count_nonzero(scaled >= 1.0) / scaled.size),
        "power_log_log_slope": power_log_log_slope(scaled),
    }

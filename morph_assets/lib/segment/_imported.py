"""Segmentation masks made elsewhere (Cellpose GUI or CLI, another lab's pipeline), matched to images.

Masks are paired with images by file-name prefix, as the study did: Cellpose writes the masks of
``<stem>.tif`` as ``<stem>_cp_masks.png`` (or ``.tif``), and for CPJUMP1 file names the stem is
the site prefix ``r01c01f01p01`` shared by all channels of a site. Anything left over on either
side is reported, never silently dropped.

Usually only cell masks exist. Nuclei are then found in the DNA image by the project's one rule,
:func:`~morph_assets.lib.segment.nuclei_from_dna` (a threshold of each cell's own DNA values, the
largest piece inside the cell with its holes filled), as for a single Cellpose cell model.
Separate nucleus masks (``<stem>_nuclei_cp_masks.png``) are used instead when present.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile

from morph_assets.lib.plates import NamingError, parse_image_name
from morph_assets.lib.segment._base import SegmentationSettings, SiteSegmentation, make_consistent
from morph_assets.lib.segment._nuclei import nuclei_from_dna

#: File extensions a mask may have (Cellpose writes PNG, or TIFF above 65,535 objects).
MASK_EXTENSIONS: tuple[str, ...] = (".png", ".tif", ".tiff")
#: Default stem pattern of separate nucleus masks.
NUCLEI_MASK_PATTERN = "{stem}_nuclei_cp_masks"


class MaskError(ValueError):
    """A mask file that cannot be used with its image; the message names the file."""


@dataclass(frozen=True)
class MaskMatch:
    """The masks of one site and the image files they belong to.

    Attributes
    ----------
    stem : str
        Shared name prefix (CPJUMP1 site prefix, or the image name without extension).
    image_files : tuple of pathlib.Path
        Every image of the site (all channels).
    cell_mask : pathlib.Path
        Cell label mask.
    nuclei_mask : pathlib.Path or None
        Separate nucleus label mask, when one exists.
    """

    stem: str
    image_files: tuple[Path, ...]
    cell_mask: Path
    nuclei_mask: Path | None = None


@dataclass(frozen=True)
class MatchReport:
    """Outcome of :func:`match_masks`.

    Attributes
    ----------
    matched : tuple of MaskMatch
        Sites with a cell mask, in stem order.
    images_without_mask : tuple of pathlib.Path
        Images whose site has no cell mask.
    masks_without_image : tuple of pathlib.Path
        Masks whose stem names no image, nucleus masks of a site without a cell mask, and
        files in the mask list that follow neither pattern.
    """

    matched: tuple[MaskMatch, ...]
    images_without_mask: tuple[Path, ...]
    masks_without_image: tuple[Path, ...]

    @property
    def complete(self) -> bool:
        """True when every image has a mask and every mask an image."""
        return not self.images_without_mask and not self.masks_without_image

    def summary(self) -> str:
        """One line for logs: counts on each side."""
        return (
            f"{len(self.matched)} sites matched, {len(self.images_without_mask)} images without a mask, "
            f"{len(self.masks_without_image)} masks without an image"
        )


def image_stem(path: Path | str) -> str:
    """Return the stem masks of an image are named after.

    Parameters
    ----------
    path : pathlib.Path or str
        An image file.

    Returns
    -------
    str
        The CPJUMP1 site prefix for CPJUMP1 names, else the file's stem.

    Examples
    --------
    >>> image_stem("plate/r01c02f03p01-ch5sk1fk1fl1.tiff"), image_stem("a/D03f00d0.tif")
    ('r01c02f03p01', 'D03f00d0')
    """
    name = Path(path).name
    try:
        return parse_image_name(name).site_prefix()
    except NamingError:
        return Path(name).stem


def _stem_regex(pattern: str) -> re.Pattern[str]:
    if pattern.count("{stem}") != 1:
        raise ValueError(f"mask pattern must contain '{{stem}}' once, got {pattern!r}")
    before, after = (re.escape(part) for part in pattern.split("{stem}"))
    extensions = "|".join(re.escape(extension) for extension in MASK_EXTENSIONS)
    return re.compile(rf"{before}(?P<stem>.+){after}(?:{extensions})", re.IGNORECASE)


def match_masks(
    image_files: Sequence[Path | str],
    mask_files: Sequence[Path | str],
    pattern: str = "{stem}_cp_masks",
    nuclei_pattern: str = NUCLEI_MASK_PATTERN,
) -> MatchReport:
    """Pair mask files with image files by their shared stem.

    Parameters
    ----------
    image_files : sequence of path-like
        Images; CPJUMP1 names are grouped by site, other names stand alone.
    mask_files : sequence of path-like
        Candidate mask files.
    pattern : str, optional
        File stem of a cell mask with ``{stem}`` for the image stem; an extension from
        :data:`MASK_EXTENSIONS` follows it.
    nuclei_pattern : str, optional
        The same for separate nucleus masks; tried before ``pattern``, since a cell pattern
        such as ``{stem}_cp_masks`` also fits ``X_nuclei_cp_masks`` with stem ``X_nuclei``.

    Returns
    -------
    MatchReport
        Matched sites and the leftovers on both sides.

    Raises
    ------
    ValueError
        If one site has two cell masks (or two nucleus masks), e.g. both ``.png`` and ``.tif``.
    """
    sites: dict[str, list[Path]] = {}
    for path in map(Path, image_files):
        sites.setdefault(image_stem(path), []).append(path)
    cell_regex, nuclei_regex = _stem_regex(pattern), _stem_regex(nuclei_pattern)
    cell_masks: dict[str, Path] = {}
    nuclei_masks: dict[str, Path] = {}
    orphans: list[Path] = []
    for path in map(Path, mask_files):
        nuclei_match = nuclei_regex.fullmatch(path.name)
        cell_match = cell_regex.fullmatch(path.name)
        if nuclei_match and nuclei_match["stem"] in sites:
            target, stem = nuclei_masks, nuclei_match["stem"]
        elif cell_match and cell_match["stem"] in sites:
            target, stem = cell_masks, cell_match["stem"]
        else:
            orphans.append(path)
            continue
        if stem in target:
            raise ValueError(f"two masks for site {stem!r}: {target[stem]} and {path}; keep one")
        target[stem] = path
    matched, without_mask = [], []
    for stem in sorted(sites):
        if stem in cell_masks:
            matched.append(MaskMatch(stem, tuple(sorted(sites[stem])), cell_masks[stem], nuclei_masks.get(stem)))
        else:
            without_mask.extend(sorted(sites[stem]))
            if stem in nuclei_masks:
                orphans.append(nuclei_masks[stem])  # nucleus masks alone cannot make cells
    return MatchReport(tuple(matched), tuple(without_mask), tuple(sorted(orphans)))


def as_label_image(mask: np.ndarray, source: str = "mask array") -> np.ndarray:
    """Check a label image and return it as int32 labels with every object kept distinct.

    Labels are kept as they are when they fit: the largest is at most the number of pixels (and
    so below 2**31 for any real image). Otherwise (e.g. a uint64 mask with labels 5 and
    2**32 + 5) the labels are renumbered 1..n in increasing order of the original labels, with
    0 staying background (:func:`skimage.segmentation.relabel_sequential`), so that no two
    objects share a label after the cast. A plain cast would wrap 2**32 + 5 onto 5 and merge
    the two objects, or turn labels above 2**31 negative. Float masks are renumbered from their
    distinct values directly: a float label such as 1e20 or 2**63 has no int64 value.

    Parameters
    ----------
    mask : numpy.ndarray
        (M, N) or (1, M, N) label image: 0 background, a positive whole number per object.
        Any integer dtype (uint8..uint64, int8..int64), or a float dtype holding whole numbers
        (ImageJ/Fiji save label images as 32-bit float).
    source : str, optional
        The file the mask came from, named in errors.

    Returns
    -------
    numpy.ndarray
        int32 (M, N) labels; the same objects (same pixel sets) as ``mask``.

    Raises
    ------
    MaskError
        One line naming ``source``: for a mask that is not 2-D, a boolean mask (touching objects
        cannot be told apart), a non-numeric dtype, negative labels (the message gives the
        smallest), or a float mask with NaN, infinite or fractional values (it gives one).

    Examples
    --------
    >>> as_label_image(np.array([[0, 5], [2**32 + 5, 5]], dtype=np.uint64)).tolist()
    [[0, 1], [2, 1]]
    """
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[0] == 1:
        mask = mask[0]
    if mask.ndim != 2:
        raise MaskError(f"{source}: expected a 2-D label image, found shape {mask.shape}; save one plane per site")
    if mask.dtype == bool:
        raise MaskError(
            f"{source}: a binary (bool) mask cannot tell touching objects apart; save a label image "
            "(0 background, one positive integer per object)"
        )
    if np.issubdtype(mask.dtype, np.floating):
        finite = np.isfinite(mask)
        if not finite.all():
            raise MaskError(f"{source}: float mask holds {mask[~finite][0]} values; labels must be whole numbers")
        fractional = mask != np.round(mask)
        if fractional.any():
            raise MaskError(
                f"{source}: float mask holds non-integer label(s), e.g. {mask[fractional][0]}; "
                "labels must be whole numbers (save the mask with an integer dtype)"
            )
    elif not np.issubdtype(mask.dtype, np.integer):
        raise MaskError(f"{source}: expected integer labels, found dtype {mask.dtype}")
    if mask.size == 0:
        return mask.astype(np.int32)
    smallest = mask.min()
    if smallest < 0:
        raise MaskError(
            f"{source}: holds negative label(s), smallest {smallest}; labels must be 0 (background) "
            "or positive (check the program that wrote the mask)"
        )
    fits = min(mask.size, np.iinfo(np.int32).max)
    if np.issubdtype(mask.dtype, np.floating):
        if float(mask.max()) <= fits:
            return mask.astype(np.int32)  # whole, finite, >= 0 and small: exact
        # Each distinct value is one object; its rank among the positive values is its new label.
        values, ranks = np.unique(mask, return_inverse=True)
        return (ranks.reshape(mask.shape) + (values[0] != 0)).astype(np.int32)
    if int(mask.max()) <= fits:
        return mask.astype(np.int32)
    from skimage.segmentation import relabel_sequential  # lazy: skimage is slow to import

    relabelled, _, _ = relabel_sequential(mask)
    return relabelled.astype(np.int32)


def read_mask(path: Path | str) -> np.ndarray:
    """Read a label mask (PNG or TIFF) as int32 (M, N) labels; see :func:`as_label_image`.

    Parameters
    ----------
    path : pathlib.Path or str
        The mask file.

    Returns
    -------
    numpy.ndarray
        (M, N) int32 labels.

    Raises
    ------
    MaskError
        If the file cannot be read or does not hold a usable label image; the message names it.
    """
    path = Path(path)
    try:
        if path.suffix.lower() == ".png":
            from PIL import Image  # PNG only; imported here so TIFF-only use needs no Pillow

            with Image.open(path) as image:
                if image.mode == "P":
                    # A palette PNG stores one index per pixel: those indices are the labels, and
                    # the palette only colours them (expanding it would give an RGB image).
                    mask = np.array(image)  # a writable copy
                else:
                    import imageio.v3 as iio

                    mask = np.asarray(iio.imread(path, plugin="pillow"))
        else:
            mask = np.asarray(tifffile.imread(path))
    except Exception as error:  # the readers raise many types for missing or corrupt files
        raise MaskError(f"{path}: cannot read mask ({type(error).__name__}: {error})") from error
    return as_label_image(mask, str(path))


def _labels(source: np.ndarray | Path | str, shape: tuple[int, ...]) -> np.ndarray:
    if isinstance(source, (str, Path)):
        mask = read_mask(source)
        name = str(source)
    else:
        name = "mask array"
        mask = as_label_image(source, name)
    if mask.shape != shape:
        raise MaskError(f"{name}: mask of shape {mask.shape} does not fit the images of shape {shape}")
    return mask


def segment_imported(
    images: Mapping[str, np.ndarray],
    cell_masks: np.ndarray | Path | str,
    nuclei_masks: np.ndarray | Path | str | None = None,
    settings: SegmentationSettings | None = None,
) -> SiteSegmentation:
    """Turn imported masks into a consistent segmentation of one site.

    Parameters
    ----------
    images : mapping of str to numpy.ndarray
        (M, N) images keyed by channel name; needs ``settings.nucleus_channel`` unless
        ``nuclei_masks`` is given.
    cell_masks : numpy.ndarray or path-like
        Cell labels of any integer dtype (or whole-number floats), or the mask file holding
        them; checked and made int32 by :func:`as_label_image`.
    nuclei_masks : numpy.ndarray or path-like, optional
        Nucleus labels, likewise; derived from the DNA image (:func:`~morph_assets.lib.segment.nuclei_from_dna`) when absent.
    settings : SegmentationSettings, optional
        Supplies the nucleus channel and threshold method.

    Returns
    -------
    SiteSegmentation
        Nuclei, cells and cytoplasm with matching labels.

    Raises
    ------
    MaskError
        If a mask cannot be read, is not a label image (see :func:`as_label_image`) or does not
        fit the images' shape (the message names the file).
    ValueError
        If the images differ in shape, or nuclei must be derived and the DNA image is missing
        or holds NaN or infinite pixels.
    """
    settings = settings or SegmentationSettings()
    shapes = {np.asarray(image).shape for image in images.values()}
    if len(shapes) != 1:
        raise ValueError(f"images must share one shape, got {sorted(shapes)}")
    shape = shapes.pop()
    cells = _labels(cell_masks, shape)
    if nuclei_masks is not None:
        nuclei = _labels(nuclei_masks, shape)
    else:
        if settings.nucleus_channel not in images:
            raise ValueError(f"channel {settings.nucleus_channel!r} is needed to derive nuclei; got {sorted(images)}")
        dna = np.asarray(images[settings.nucleus_channel])
        bad = int(np.count_nonzero(~np.isfinite(dna))) if dna.dtype.kind in "fc" else 0
        if bad:
            raise ValueError(
                f"channel {settings.nucleus_channel!r}: {bad} pixel(s) are NaN or infinite; read images with "
                "morph_assets.lib.plates.read_scaled_image or pass them through scale_image, which refuse such files"
            )
        nuclei = nuclei_from_dna(dna, cells, settings.threshold_method)
    return make_consistent(nuclei, cells)


def load_imported_masks(
    match: MaskMatch, images: Mapping[str, np.ndarray], settings: SegmentationSettings | None = None
) -> SiteSegmentation:
    """Load the masks of one matched site (see :func:`match_masks`) as a segmentation.

    Parameters
    ----------
    match : MaskMatch
        The site's cell mask and optional nucleus mask.
    images : mapping of str to numpy.ndarray
        The site's (M, N) images keyed by channel name.
    settings : SegmentationSettings, optional
        Supplies the nucleus channel and threshold method when nuclei are derived.

    Returns
    -------
    SiteSegmentation
        Nuclei, cells and cytoplasm with matching labels.
    """
    return segment_imported(images, match.cell_mask, match.nuclei_mask, settings)

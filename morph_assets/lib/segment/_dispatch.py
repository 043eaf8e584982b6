"""The single entry point every segmentation method goes through: :func:`segment_site`.

Kept apart from :mod:`._base` so that the types every method returns import no method; the
methods are imported here, inside the function, so classical use never loads torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, replace

import numpy as np

from morph_assets.lib.segment._base import SEGMENTATION_METHODS, SegmentationSettings, SiteSegmentation

# Keyword arguments the "imported" method takes besides the settings.
_IMPORTED_ARGUMENTS = ("cell_masks", "nuclei_masks")


def segment_site(
    images: Mapping[str, np.ndarray],
    method: str,
    settings: SegmentationSettings | None = None,
    **kwargs: object,
) -> SiteSegmentation:
    """Segment one site into nuclei, cells and cytoplasm.

    Parameters
    ----------
    images : mapping of str to numpy.ndarray
        (M, N) float images keyed by channel name (``"DNA"``, ``"RNA"``, ``"AGP"``, ...), in
        [0, 1] after illumination correction.
    method : str
        ``"classical"`` (CellProfiler's recipe, :func:`~morph_assets.lib.segment.segment_classical`),
        ``"cellpose"`` (:func:`~morph_assets.lib.segment.segment_with_cellpose`, imported only when asked
        for so that classical use needs no torch) or ``"imported"`` (masks made elsewhere,
        :func:`~morph_assets.lib.segment.segment_imported`).
    settings : SegmentationSettings, optional
        Defaults to ``SegmentationSettings()``.
    **kwargs
        Names of :class:`SegmentationSettings` fields override those settings. ``"imported"``
        also takes ``cell_masks`` (required) and ``nuclei_masks``: label arrays or mask files.

    Returns
    -------
    SiteSegmentation
        Consistently labelled nuclei, cells and cytoplasm.

    Raises
    ------
    ValueError
        For an unknown method or a missing channel.
    TypeError
        For a keyword argument the method does not take.
    """
    if method not in SEGMENTATION_METHODS:
        raise ValueError(f"method must be one of {SEGMENTATION_METHODS}, got {method!r}")
    settings = settings or SegmentationSettings()
    setting_names = {field.name for field in fields(SegmentationSettings)}
    overrides = {key: value for key, value in kwargs.items() if key in setting_names}
    extra = {key: value for key, value in kwargs.items() if key not in setting_names}
    if overrides:
        settings = replace(settings, **overrides)  # type: ignore[arg-type]
    allowed_extra = _IMPORTED_ARGUMENTS if method == "imported" else ()
    unexpected = sorted(set(extra) - set(allowed_extra))
    if unexpected:
        raise TypeError(f"segment_site(method={method!r}) got unexpected keyword arguments {unexpected}")

    if method == "classical":
        from morph_assets.lib.segment._classical import segment_classical

        return segment_classical(images, settings)
    if method == "cellpose":
        # Lazy: torch and cellpose are heavy, and the module may not exist in every install.
        from morph_assets.lib.segment._cellpose import segment_with_cellpose

        return segment_with_cellpose(images, settings)
    from morph_assets.lib.segment._imported import segment_imported

    if "cell_masks" not in extra:
        raise TypeError("segment_site(method='imported') needs cell_masks=<label array or mask file>")
    return segment_imported(
        images,
        extra["cell_masks"],  # type: ignore[arg-type]
        extra.get("nuclei_masks"),  # type: ignore[arg-type]
        settings,
    )

"""Loading one site's channels as illumination-corrected float images, as measurements need them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import tifffile

from morph_assets.lib.illumination import apply_illumination_function
from morph_assets.lib.images import read_image, saturation_value


def site_prefix(path: str | Path) -> str:
    """The per-site prefix shared by all channels of a CPJUMP1 file name: ``r01c01f01p01``."""
    return Path(path).name.split("-", 1)[0]


def load_illumination(files: Mapping[str, str]) -> dict[str, np.ndarray]:
    """Read illumination functions keyed by channel name (float32 TIFFs)."""
    return {name: tifffile.imread(path).astype(np.float32) for name, path in files.items()}


def load_site(
    image_rows: Sequence[Mapping[str, object]],
    illumination: Mapping[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Read one site's channels, scale them to [0, 1] and divide by the illumination function.

    Parameters
    ----------
    image_rows : sequence of mapping
        The site's rows of a plate image index (``channel_name`` and ``path`` are used).
    illumination : mapping of str to (M, N) ndarray, optional
        Flat-field function per channel name; channels without one are left uncorrected.

    Returns
    -------
    dict of str to (M, N) float32 ndarray
        Channel name -> corrected image. Integer images are divided by their dtype's maximum,
        as CellProfiler does, so intensities are comparable with CellProfiler's.
    """
    images: dict[str, np.ndarray] = {}
    for row in image_rows:
        raw = read_image(str(row["path"]))
        scaled = raw.astype(np.float32) / np.float32(saturation_value(raw.dtype)) if raw.dtype.kind in "ui" else raw.astype(np.float32)
        name = str(row["channel_name"])
        function = None if illumination is None else illumination.get(name)
        images[name] = apply_illumination_function(scaled, function) if function is not None else scaled
    return images

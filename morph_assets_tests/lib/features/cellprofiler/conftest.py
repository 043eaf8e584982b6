"""The synthetic site the CellProfiler measurement tests measure."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from morph_assets.lib.plates import CHANNEL_NAMES
from morph_assets.lib.synthetic import SyntheticConfig, render_site


@pytest.fixture(scope="module")
def site():
    rendered = render_site(SyntheticConfig(image_size=112, cell_diameter_px=30.0), 0, "B03", 1)
    nuclei = rendered.nuclei_labels.astype(np.int32)
    cells = rendered.cell_labels.astype(np.int32)
    segmentation = SimpleNamespace(
        nuclei=nuclei, cells=cells, cytoplasm=np.where(nuclei > 0, 0, cells).astype(np.int32)
    )
    images = {CHANNEL_NAMES[c]: rendered.images[i] for i, c in enumerate(rendered.channels) if c <= 5}
    assert cells.max() >= 5
    return segmentation, images

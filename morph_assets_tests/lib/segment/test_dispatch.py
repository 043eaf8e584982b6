"""segment_site: dispatch to a method, its argument errors, and classical use without torch."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from morph_assets.lib.segment import segment_site


def test_segment_site_dispatch_and_errors() -> None:
    image = np.zeros((32, 32), np.float32)
    with pytest.raises(ValueError, match="method"):
        segment_site({"DNA": image}, "stardist")
    with pytest.raises(TypeError, match="unexpected"):
        segment_site({"DNA": image, "AGP": image}, "classical", cell_masks=image)
    with pytest.raises(ValueError, match="missing"):
        segment_site({"DNA": image}, "classical")
    # Overrides by keyword reach the method; a blank site has no objects.
    assert segment_site({"DNA": image, "RNA": image}, "classical", cell_channel="RNA").n_objects == 0
    cells = np.zeros((32, 32), np.int32)
    cells[4:20, 4:20] = 1
    dna = np.zeros((32, 32), np.float32)
    dna[8:14, 8:14] = 1.0
    seg = segment_site({"DNA": dna}, "imported", cell_masks=cells)
    assert seg.n_objects == 1 and np.count_nonzero(seg.nuclei) == 36


def test_classical_use_does_not_import_cellpose_or_torch() -> None:
    before = {name for name in sys.modules if name.split(".")[0] in {"torch", "cellpose"}}
    segment_site({"DNA": np.zeros((32, 32), np.float32), "AGP": np.zeros((32, 32), np.float32)}, "classical")
    after = {name for name in sys.modules if name.split(".")[0] in {"torch", "cellpose"}}
    assert after == before

"""What the CellProfiler measurement tests share: cp-measure's families as the reference, one tolerance."""

from __future__ import annotations

import numpy as np
from cp_measure.bulk import get_core_measurements

RTOL, ATOL = 1e-9, 1e-12


def _close(ours, reference, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(np.asarray(ours, float), np.asarray(reference, float), rtol=rtol, atol=atol)


CORE = get_core_measurements(legacy=True, sanitize=False)

"""Crops with a planted class signal, and network settings small enough for a test."""

import numpy as np

from morph_assets.lib.models import CropNetSettings

FAST = CropNetSettings(width=4, view_size=8, max_epochs=6, patience=6, batch_size=32, device="cpu")


def planted(n_per_class: int, n_classes: int, rng: np.random.Generator,
            side: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Crops whose class k brightens stain plane k (noise elsewhere), with a round cell mask."""
    crops = rng.uniform(0.0, 0.3, (n_per_class * n_classes, 6, side, side)).astype(np.float32)
    labels = np.repeat(np.arange(n_classes), n_per_class)
    for k in range(n_classes):
        crops[labels == k, k] += 0.6
    yy, xx = np.mgrid[:side, :side]
    crops[:, -1] = ((yy - side / 2 + 0.5) ** 2 + (xx - side / 2 + 0.5) ** 2 < (side / 3) ** 2)
    return crops, labels

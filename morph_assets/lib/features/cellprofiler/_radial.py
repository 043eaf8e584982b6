"""CellProfiler's MeasureObjectIntensityDistribution with the geometry done once per object type.

In ``cp_measure.core.measureobjectintensitydistribution`` almost all the time of
``get_radial_distribution`` goes into geometry that depends only on the labels (distance to the
edge, each object's centre, the propagated distance from it, the ring and wedge of every pixel),
and in ``get_radial_zernikes`` into the Zernike basis at every pixel. Called per channel, both
redo that work five times. :class:`RadialGeometry` computes it once (with the same centrosome
routines, in the same order) and the per-channel measurements are bincounts of the pixels over
(object, ring) and (object, ring, wedge) cells.

Output names are cp-measure's (``RadialDistribution_FracAtD_1of4`` ...); the caller inserts the
channel. Only the scaled bins (cp-measure's default, ``scaled=True``, 4 bins) are provided.
"""

from __future__ import annotations

import centrosome.cpmorphology
import centrosome.propagate
import numpy as np
from centrosome import zernike

BIN_COUNT = 4
ZERNIKE_DEGREE = 9


def _first_maximum_positions(image: np.ndarray, labels: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per label 1..n, the first pixel in C order holding the label's maximum of ``image``."""
    flat_labels = labels.ravel()
    flat = image.ravel()
    best = np.full(n + 1, -np.inf)
    np.maximum.at(best, flat_labels, flat)
    candidates = np.flatnonzero((flat_labels > 0) & (flat == best[flat_labels]))
    first = np.full(n + 1, labels.size, dtype=np.intp)
    np.minimum.at(first, flat_labels[candidates], candidates)
    rows, cols = np.unravel_index(first[1:], labels.shape)
    return rows, cols


class RadialGeometry:
    """Ring and wedge of every object pixel, for labels 1..N (contiguous).

    Parameters
    ----------
    labels : numpy.ndarray
        (M, N) label image with labels ``1..N``.
    bin_count : int, optional
        Number of rings from the centre to the edge, by default :data:`BIN_COUNT`.
    """

    def __init__(self, labels: np.ndarray, bin_count: int = BIN_COUNT) -> None:
        labels = np.asarray(labels)
        self.shape = labels.shape
        self.bin_count = bin_count
        self.n_objects = n = int(labels.max(initial=0))
        d_to_edge = centrosome.cpmorphology.distance_to_edge(labels)
        ci, cj = _first_maximum_positions(d_to_edge, labels, n)
        centers = np.zeros(labels.shape, int)
        centers[ci, cj] = labels[ci, cj]
        colors = centrosome.cpmorphology.color_labels(labels)
        d_from_center = np.zeros(labels.shape)
        owner = np.zeros(labels.shape, int)
        for color in range(1, int(np.max(colors)) + 1):
            in_color = colors == color
            lab, dist = centrosome.propagate.propagate(np.zeros(centers.shape), centers, in_color, 1)
            d_from_center[in_color] = dist[in_color]
            owner[in_color] = lab[in_color]
        good = owner > 0
        self.good = good
        self.object_index = labels[good] - 1  # row of each good pixel
        total = d_from_center[good] + d_to_edge[good]
        normalized = d_from_center[good] / (total + 0.001)
        bins = (normalized * bin_count).astype(int)
        bins[bins > bin_count] = bin_count
        self.bins = bins
        rows, cols = np.nonzero(good)
        i_center = ci[owner[good] - 1].astype(float)
        j_center = cj[owner[good] - 1].astype(float)
        wedge = (
            (rows > i_center).astype(int)
            + (cols > j_center).astype(int) * 2
            + (np.abs(rows - i_center) > np.abs(cols - j_center)).astype(int) * 4
        )
        n_cells = bin_count + 1
        self.ring_cell = self.object_index * n_cells + bins
        self.wedge_cell = (self.object_index * n_cells + bins) * 8 + wedge
        self.ring_count = np.bincount(self.ring_cell, minlength=n * n_cells).reshape(n, n_cells)
        self.wedge_count = np.bincount(self.wedge_cell, minlength=n * n_cells * 8).reshape(n, n_cells, 8)

    def features(self, pixels: np.ndarray) -> dict[str, np.ndarray]:
        """FracAtD, MeanFrac and RadialCV per ring for one channel (cp-measure names)."""
        n, n_cells = self.n_objects, self.bin_count + 1
        values = np.asarray(pixels, dtype=float)[self.good]
        ring_sum = np.bincount(self.ring_cell, weights=values, minlength=n * n_cells).reshape(n, n_cells)
        wedge_sum = np.bincount(self.wedge_cell, weights=values, minlength=n * n_cells * 8)
        wedge_sum = wedge_sum.reshape(n, n_cells, 8)
        with np.errstate(invalid="ignore", divide="ignore"):
            frac_at_d = ring_sum / ring_sum.sum(axis=1, keepdims=True)
            frac_pixels = self.ring_count / self.ring_count.sum(axis=1, keepdims=True)
            mean_frac = frac_at_d / (frac_pixels + np.finfo(float).eps)
            present = self.wedge_count > 0
            wedge_mean = np.where(present, wedge_sum / np.where(present, self.wedge_count, 1), 0.0)
            n_present = present.sum(axis=2)
            mean = wedge_mean.sum(axis=2) / n_present
            spread = np.where(present, (wedge_mean - mean[..., None]) ** 2, 0.0).sum(axis=2)
            cv = np.sqrt(spread / n_present) / mean
        cv[n_present == 0] = 0
        out: dict[str, np.ndarray] = {}
        for ring in range(self.bin_count):
            suffix = f"{ring + 1}of{self.bin_count}"
            out[f"RadialDistribution_FracAtD_{suffix}"] = frac_at_d[:, ring]
            out[f"RadialDistribution_MeanFrac_{suffix}"] = mean_frac[:, ring]
            out[f"RadialDistribution_RadialCV_{suffix}"] = cv[:, ring]
        return out


class RadialZernikeBasis:
    """Intensity-weighted Zernike moments (degree 9) of every object, for many channels at once.

    Parameters
    ----------
    labels : numpy.ndarray
        (M, N) label image with labels ``1..N``.
    degree : int, optional
        Highest Zernike degree, by default :data:`ZERNIKE_DEGREE`.
    """

    def __init__(self, labels: np.ndarray, degree: int = ZERNIKE_DEGREE) -> None:
        labels = np.asarray(labels)
        self.n_objects = n = int(labels.max(initial=0))
        self.indexes = zernike.get_zernike_indexes(degree + 1)
        self.keep = labels > 0
        self.segment = labels[self.keep].astype(np.intp) - 1
        self.counts = np.bincount(self.segment, minlength=n).astype(float)
        if n == 0:
            return
        centers, radii = zernike.minimum_enclosing_circle(labels, np.arange(1, n + 1))
        radii = np.asarray(radii, dtype=float)
        rows, cols = np.nonzero(self.keep)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.ym = (rows - centers[self.segment, 0]) / radii[self.segment]
            self.xm = (cols - centers[self.segment, 1]) / radii[self.segment]

    def features(self, channels: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
        """``{channel: {"RadialDistribution_ZernikeMagnitude_n_m": ..., ...Phase...}}``."""
        n, k = self.n_objects, len(self.indexes)
        weights = {name: np.asarray(image, dtype=float)[self.keep] for name, image in channels.items()}
        real = {name: np.zeros((n, k)) for name in channels}
        imag = {name: np.zeros((n, k)) for name in channels}
        if n:
            coeffs = zernike.construct_zernike_lookuptable(self.indexes)
            r2 = self.xm * self.xm + self.ym * self.ym
            z = self.ym + 1j * self.xm
            powers, zp = {}, z
            for m in range(1, int(self.indexes[:, 1].max()) + 1):
                powers[m] = zp
                zp = zp * z
            for idx, (zn, zm) in enumerate(self.indexes):
                radial = np.zeros_like(self.xm)
                for c in coeffs[idx, : (zn - zm) // 2 + 1]:
                    radial *= r2
                    radial += c
                radial[r2 > 1] = 0
                for name, w in weights.items():
                    if zm == 0:
                        real[name][:, idx] = np.bincount(self.segment, weights=radial * w, minlength=n)
                    else:
                        weighted = (radial * w) * powers[zm]
                        real[name][:, idx] = np.bincount(self.segment, weights=weighted.real, minlength=n)
                        imag[name][:, idx] = np.bincount(self.segment, weights=weighted.imag, minlength=n)
        out = {}
        for name in channels:
            vr, vi = real[name], imag[name]
            with np.errstate(invalid="ignore", divide="ignore"):
                magnitude = np.sqrt(vr * vr + vi * vi) / self.counts[:, None]
            phase = np.arctan2(vr, vi)  # CellProfiler's (real, imag) argument order
            features = {}
            for idx, (zn, zm) in enumerate(self.indexes):
                features[f"RadialDistribution_ZernikeMagnitude_{zn}_{zm}"] = magnitude[:, idx]
                features[f"RadialDistribution_ZernikePhase_{zn}_{zm}"] = phase[:, idx]
            out[name] = features
        return out

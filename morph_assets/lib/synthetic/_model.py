"""The phenotype model of the synthetic plates: what each compound does to the cells of a well.

Each plate mimics a JUMP-Target-1 compound plate of CPJUMP1 (Chandrasekaran et al. 2024,
BR00116991: A549 cells, 384 wells of which 64 DMSO, 9 sites x 8 channels). A latent phenotype
space of :data:`N_PROGRAMS` morphological programs drives the cell-level parameters; each target
gene has a direction in it and a compound follows its targets. Replicate plates share the layout,
so well-position effects repeat across them, while plate gain changes per plate.

Every random draw comes from a generator keyed on ``(seed, stream, plate, well, site...)``, so any
subset of wells renders byte-identically to the same wells of the full plate.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import polars as pl

from morph_assets.lib.plates import (
    FLUORESCENCE_CHANNELS,
    N_COLUMNS,
    N_ROWS,
    WELLS_384,
    embedded_layout,
    normalize_well,
    validate_barcode,
    well_to_row_col,
)
from morph_assets.lib.schema import BROAD_SAMPLE, CONTROL_TYPE, DMSO, PERT_INAME, POSITIVE_CONTROLS, TARGET_LIST, WELL

N_PROGRAMS = 12
INACTIVE = "inactive"

#: Cell-level parameters the latent programs act on, as additive shifts on these scales.
PARAMETERS: tuple[str, ...] = (
    "nucleus_log_size",
    "nucleus_log_elongation",
    "cell_log_size",
    "cell_log_elongation",
    "mito_log_intensity",
    "agp_log_intensity",
    "rna_log_intensity",
    "er_log_intensity",
    "dna_log_intensity",
    "mito_granularity_logit",
    "er_reticulation_logit",
    "nucleoli_log_count",
    "dna_texture_logit",
    "agp_edge_log_power",
    "log_cell_count",
)
_P = {name: index for index, name in enumerate(PARAMETERS)}
# Shift of each parameter per unit of a program, and the bound it saturates at (tanh) so that
# the heavy tail of strong compounds stays physically plausible: cells at most ~1.8x wider,
# stains at most ~2.5x brighter or dimmer, cell count down to a third at worst.
_PARAMETER_SCALE = np.array([0.25, 0.2, 0.25, 0.3, 0.4, 0.4, 0.4, 0.4, 0.4, 1.2, 1.2, 0.6, 1.0, 0.6, 0.3])
_PARAMETER_LIMIT = np.array([0.5, 0.8, 0.6, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 2.5, 2.5, 1.2, 2.5, 0.9, 1.1])
_INTENSITY_PARAMETERS = [_P[f"{stain}_log_intensity"] for stain in ("mito", "agp", "rna", "er", "dna")]
_BASE_INTENSITY = np.array([2500.0, 2000.0, 1800.0, 2200.0, 5000.0])

# Independent random streams; the number is the first key after the seed.
_STREAM_PROGRAMS, _STREAM_TARGET, _STREAM_COMPOUND, _STREAM_POSITION = 1, 2, 3, 4
_STREAM_PLATE, _STREAM_ILLUMINATION, _STREAM_WELL, _STREAM_SITE = 5, 6, 7, 8

# Phenotype-strength calibration (see compound_phenotypes): chosen so that DMSO-normalised
# replicate retrieval lands near CPJUMP1's figures rather than being trivial.
_INACTIVE_FRACTION = 0.38
_ACTIVE_MEDIAN = 1.5
_ACTIVE_LOG_SD = 0.7
_POSCON_ACTIVITY = 3.0
_COMPOUND_SPECIFIC_WEIGHT = 0.4
_WELL_NOISE_SD = 0.25
_TOXICITY_ONSET = 2.0
_TOXICITY_SLOPE = 0.35
# Share of the frame a cell population covers at baseline: sub-confluent, as at 24 h.
_BASE_CONFLUENCE = 0.62


@dataclass(frozen=True)
class SyntheticConfig:
    """What to generate: plate count, wells, image geometry and the seed.

    The defaults are the demo's plates (``make demo``, ``morph-assets demo``): 4 replicate plates of
    384 wells x 2 sites of 136 x 136 px. Several sites per well, as in the study (CPJUMP1 has 9),
    so that image-level and well-level profiles differ; two sites of 136 px hold about the pixels
    (and cells) of one 192 px site, so a well costs about what it did with one site.

    Attributes
    ----------
    n_plates : int
        Replicate plates with the same layout (as BR00116991-BR00116994).
    wells : tuple of str or None
        Wells that get images; None means all 384. The platemap always lists all 384.
    sites_per_well : int
        Fields of view per well.
    image_size : int
        Side of the square images in pixels.
    include_brightfield : bool
        Also write channels 6-8 (HighZBF, LowZBF, Brightfield).
    seed : int
        Root of every random draw.
    barcode_prefix : str
        Prefix of the plate barcodes, e.g. ``SYNJT0001``; cannot be mistaken for real ``BR...``.
    cell_diameter_px : float
        Cell-body diameter at this pixel size.
    """

    n_plates: int = 4
    wells: tuple[str, ...] | None = None
    sites_per_well: int = 2
    image_size: int = 136
    include_brightfield: bool = False
    seed: int = 0
    barcode_prefix: str = "SYNJT"
    cell_diameter_px: float = 34.0

    def __post_init__(self) -> None:
        if self.n_plates < 1 or self.n_plates > 9999:
            raise ValueError(f"n_plates must be between 1 and 9999, got {self.n_plates}")
        if not 1 <= self.sites_per_well <= 99:
            raise ValueError(f"sites_per_well must be between 1 and 99, got {self.sites_per_well}")
        if self.image_size < 32:
            raise ValueError(f"image_size must be at least 32 pixels, got {self.image_size}")
        if not 4.0 <= self.cell_diameter_px <= self.image_size / 2:
            raise ValueError(
                f"cell_diameter_px must be between 4 and image_size / 2, got {self.cell_diameter_px}"
            )
        if self.seed < 0:
            raise ValueError(f"seed must be non-negative, got {self.seed}")
        validate_barcode(self.barcode_prefix)
        if self.wells is not None:
            wells = tuple(normalize_well(well) for well in self.wells)
            if not wells or len(set(wells)) != len(wells):
                raise ValueError(f"wells must be a non-empty tuple without repeats, got {self.wells}")
            object.__setattr__(self, "wells", wells)

    @classmethod
    def full_size(cls, **overrides: object) -> SyntheticConfig:
        """Return a CPJUMP1-sized configuration: 1080 px, 9 sites, brightfield, ~60 px cells."""
        defaults: dict[str, object] = {
            "image_size": 1080,
            "sites_per_well": 9,
            "include_brightfield": True,
            "cell_diameter_px": 60.0,
        }
        return cls(**{**defaults, **overrides})  # type: ignore[arg-type]

    def barcodes(self) -> list[str]:
        """Return the plate barcodes, ``<prefix>0001`` upwards."""
        return [f"{self.barcode_prefix}{index + 1:04d}" for index in range(self.n_plates)]

    def selected_wells(self) -> tuple[str, ...]:
        """Return the wells that get images, in plate (row-major) order."""
        if self.wells is None:
            return WELLS_384
        chosen = set(self.wells)
        return tuple(well for well in WELLS_384 if well in chosen)

    def channels(self) -> tuple[int, ...]:
        """Return the channel numbers written: 1-5, plus 6-8 with brightfield."""
        return (*FLUORESCENCE_CHANNELS, 6, 7, 8) if self.include_brightfield else FLUORESCENCE_CHANNELS


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


def _stable_key(text: str) -> int:
    # Python's hash() is salted per process; crc32 keeps directions identical across runs.
    return zlib.crc32(text.encode("utf-8"))


@lru_cache(maxsize=1)
def _layout() -> pl.DataFrame:
    return embedded_layout()


@lru_cache(maxsize=8)
def _program_matrix(seed: int) -> np.ndarray:
    """(P, K) map from latent programs to parameter shifts; each program moves 2-4 parameters."""
    rng = _rng(seed, _STREAM_PROGRAMS)
    matrix = np.zeros((len(PARAMETERS), N_PROGRAMS))
    for program in range(N_PROGRAMS):
        chosen = rng.choice(len(PARAMETERS), size=int(rng.integers(2, 5)), replace=False)
        weights = rng.standard_normal(len(chosen))
        matrix[chosen, program] = weights / np.linalg.norm(weights)
    return matrix


def _target_direction(seed: int, gene: str) -> np.ndarray:
    vector = _rng(seed, _STREAM_TARGET, _stable_key(gene)).standard_normal(N_PROGRAMS)
    return vector / np.linalg.norm(vector)


@lru_cache(maxsize=8)
def _phenotype_table(seed: int) -> pl.DataFrame:
    perturbations = (
        _layout()
        .select(BROAD_SAMPLE, PERT_INAME, TARGET_LIST, CONTROL_TYPE)
        .unique(subset=BROAD_SAMPLE, keep="first")
        .sort(BROAD_SAMPLE, nulls_last=False)
    )
    activities, groups, vectors = [], [], []
    for sample, name, target_list, control in perturbations.iter_rows():
        if sample is None:
            activities.append(0.0)
            groups.append(DMSO)
            vectors.append(np.zeros(N_PROGRAMS))
            continue
        rng = _rng(seed, _STREAM_COMPOUND, _stable_key(sample))
        targets = target_list.split("|") if target_list else []
        # Draw everything in a fixed order so that activity does not shift the later draws.
        target_weights = rng.exponential(1.0, len(targets))
        specific = rng.standard_normal(N_PROGRAMS)
        is_inactive = rng.random() < _INACTIVE_FRACTION
        strength = np.exp(rng.normal(0.0, _ACTIVE_LOG_SD))
        poscon_strength = np.exp(rng.normal(0.0, 0.2))

        direction = np.zeros(N_PROGRAMS)
        for gene, weight in zip(targets, target_weights):
            direction += weight * _target_direction(seed, gene)
        if np.linalg.norm(direction) > 0:
            direction /= np.linalg.norm(direction)
        direction += _COMPOUND_SPECIFIC_WEIGHT * specific / np.linalg.norm(specific)
        direction /= np.linalg.norm(direction)

        if control in POSITIVE_CONTROLS:
            activity = _POSCON_ACTIVITY * poscon_strength
        elif is_inactive:
            activity = 0.0
        else:
            activity = _ACTIVE_MEDIAN * strength
        activities.append(activity)
        if activity == 0.0:
            groups.append(INACTIVE)
        else:
            groups.append(targets[int(np.argmax(target_weights))] if targets else name)
        vectors.append(activity * direction + 0.0)  # no -0.0 in the inactive rows
    true = np.vstack(vectors)
    return perturbations.with_columns(
        pl.Series("activity", activities, dtype=pl.Float64),
        pl.Series("phenotype_group", groups, dtype=pl.String),
        *(pl.Series(f"true_{k}", true[:, k], dtype=pl.Float64) for k in range(N_PROGRAMS)),
    )


def compound_phenotypes(config: SyntheticConfig) -> pl.DataFrame:
    """Return the ground-truth phenotype of every perturbation on the plate, DMSO included.

    Parameters
    ----------
    config : SyntheticConfig
        Only ``seed`` matters: the phenotypes do not depend on wells, sizes or plates.

    Returns
    -------
    polars.DataFrame
        One row per perturbation (307: 306 compounds and DMSO, whose ``Metadata_broad_sample``
        is null as in the layout) with ``Metadata_broad_sample``, ``Metadata_pert_iname``,
        ``Metadata_target_list``, ``Metadata_control_type``, ``activity`` (0 = inactive),
        ``phenotype_group`` (dominant target, ``"inactive"`` or ``"DMSO"``) and the true
        phenotype vector ``true_0`` .. ``true_{K-1}`` (its norm is ``activity``).
    """
    return _phenotype_table(config.seed)


@lru_cache(maxsize=8)
def _compound_vectors(seed: int) -> dict[str | None, tuple[float, np.ndarray]]:
    table = _phenotype_table(seed)
    true = table.select(f"true_{k}" for k in range(N_PROGRAMS)).to_numpy()
    return {
        sample: (activity, true[row])
        for row, (sample, activity) in enumerate(zip(table[BROAD_SAMPLE], table["activity"]))
    }


@lru_cache(maxsize=8)
def _position_effects(seed: int) -> np.ndarray:
    """(384, P) parameter shifts by well position, identical on every replicate plate."""
    rng = _rng(seed, _STREAM_POSITION)
    row_slope = rng.normal(0.0, 0.05, 5)
    col_slope = rng.normal(0.0, 0.05, 5)
    edge_brightening = 0.10 * np.exp(rng.normal(0.0, 0.3, 5))
    effects = np.zeros((len(WELLS_384), len(PARAMETERS)))
    for index, well in enumerate(WELLS_384):
        row, col = well_to_row_col(well)
        ring = min(row - 1, N_ROWS - row, col - 1, N_COLUMNS - col)
        # Evaporation concentrates the outer ring most and the next ring a little.
        edge = {0: 1.0, 1: 0.4}.get(ring, 0.0)
        row_frac = (row - (N_ROWS + 1) / 2) / ((N_ROWS - 1) / 2)
        col_frac = (col - (N_COLUMNS + 1) / 2) / ((N_COLUMNS - 1) / 2)
        effects[index, _INTENSITY_PARAMETERS] = edge * edge_brightening + row_slope * row_frac + col_slope * col_frac
        effects[index, _P["log_cell_count"]] = -0.2 * edge + 0.08 * col_frac
        effects[index, _P["cell_log_size"]] = 0.05 * edge
    return effects


@lru_cache(maxsize=64)
def _plate_effects(seed: int, plate_index: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-plate channel gains (8,) and a small shift of every parameter (batch drift)."""
    rng = _rng(seed, _STREAM_PLATE, plate_index)
    gains = np.exp(rng.uniform(-0.14, 0.14, 8))
    drift = rng.normal(0.0, 0.08, len(PARAMETERS))
    drift[_P["log_cell_count"]] = rng.normal(0.0, 0.08)
    return gains, drift


def _well_index(well: str) -> int:
    return WELLS_384.index(normalize_well(well))


@lru_cache(maxsize=1)
def _well_samples() -> dict[str, str | None]:
    layout = _layout()
    return dict(zip(layout[WELL], layout[BROAD_SAMPLE]))


def well_parameters(config: SyntheticConfig, plate_index: int, well: str) -> np.ndarray:
    """Return the well's realised parameter shifts (P,) in :data:`PARAMETERS` order.

    The compound's true phenotype plus this well's biological noise, mapped through the
    programs, plus the position effect, the plate drift and the toxicity on cell count.

    Parameters
    ----------
    config : SyntheticConfig
        The generator's settings (seed, plates, wells).
    plate_index : int
        Which plate, from 0.
    well : str
        Well name.

    Returns
    -------
    numpy.ndarray
        (P,) float shifts.
    """
    seed = config.seed
    well_index = _well_index(well)
    activity, true = _compound_vectors(seed)[_well_samples()[WELLS_384[well_index]]]
    noise = _rng(seed, _STREAM_WELL, plate_index, well_index).normal(0.0, _WELL_NOISE_SD, N_PROGRAMS)
    biology = _PARAMETER_SCALE * (_program_matrix(seed) @ (true + noise))
    biology[_P["log_cell_count"]] -= _TOXICITY_SLOPE * max(0.0, activity - _TOXICITY_ONSET)
    biology = _PARAMETER_LIMIT * np.tanh(biology / _PARAMETER_LIMIT)
    return biology + _position_effects(seed)[well_index] + _plate_effects(seed, plate_index)[1]

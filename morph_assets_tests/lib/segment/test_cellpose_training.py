"""A tiny real Cellpose training on synthetic sites, and segmentation with the models it wrote.

The segmentation tests (``segment_with_cellpose`` on the trained files) stay beside the training
test: they share its module-scoped ``trained`` fixture, so the models are trained once; split
across two modules, they would be trained twice (or torch would run on one thread for the rest
of the package, were the fixture package-scoped).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from morph_assets.lib.plates import CHANNEL_NAMES
from morph_assets.lib.segment import (
    CELL_MODEL_FILE,
    MANIFEST_FILE,
    NUCLEI_MODEL_FILE,
    CellposeTrainingReport,
    SegmentationSettings,
    SiteSegmentation,
    clear_model_cache,
    segment_with_cellpose,
    train_cellpose_models,
)
from morph_assets.lib.synthetic import SyntheticConfig, render_site

# Tiny on purpose: 8 sites of 96 px (6 train, 2 held out), small patches, one thread.
_TINY = {"n_epochs": 10, "batch_size": 2, "patch_size": 96, "learning_rate": 0.02}
_WELLS = ("A01", "A02", "A03", "B01")


def _site(config: SyntheticConfig, well: str, site: int):
    rendered = render_site(config, 0, well, site)
    images = {CHANNEL_NAMES[c]: plane for c, plane in zip(rendered.channels, rendered.images)}
    return images, rendered.nuclei_labels, rendered.cell_labels


def _assert_consistent(seg: SiteSegmentation, shape: tuple[int, int]) -> None:
    assert isinstance(seg, SiteSegmentation)
    for image in (seg.nuclei, seg.cells, seg.cytoplasm):
        assert image.shape == shape
        assert image.dtype == np.int32
    labels = np.unique(seg.cells[seg.cells > 0])
    np.testing.assert_array_equal(labels, np.arange(1, len(labels) + 1))
    np.testing.assert_array_equal(np.unique(seg.nuclei[seg.nuclei > 0]), labels)
    inside = seg.nuclei > 0
    np.testing.assert_array_equal(seg.cells[inside], seg.nuclei[inside])  # nucleus k in cell k
    np.testing.assert_array_equal(seg.cytoplasm, np.where(inside, 0, seg.cells))


# --- a tiny real training ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        config = SyntheticConfig(n_plates=1, wells=_WELLS, sites_per_well=2, image_size=96, seed=5)
        sites = [_site(config, well, site) for well in _WELLS for site in (1, 2)]
        save_dir = tmp_path_factory.mktemp("cellpose") / "model"
        steps: list[tuple[int, int, str]] = []
        numpy_state = np.random.get_state()[1].copy()
        torch_state = torch.random.get_rng_state().clone()
        started = time.perf_counter()
        report = train_cellpose_models(
            sites,
            save_dir,
            cell_channel="RNA",
            seed=0,
            progress=lambda *step: steps.append(step),
            **_TINY,
        )
        seconds = time.perf_counter() - started
        # The caller's global random states are left as they were.
        np.testing.assert_array_equal(np.random.get_state()[1], numpy_state)
        assert torch.equal(torch.random.get_rng_state(), torch_state)
        other = SyntheticConfig(n_plates=1, wells=("C05",), image_size=96, seed=11)
        held_out = _site(other, "C05", 1)
        clear_model_cache()  # segmentation below reloads the models from disk
        yield report, save_dir, steps, seconds, held_out
    finally:
        torch.set_num_threads(threads)


def test_training_writes_models_and_reports(trained) -> None:
    report, save_dir, steps, seconds, _ = trained
    assert isinstance(report, CellposeTrainingReport)
    assert Path(report.nuclei_model_path) == save_dir / NUCLEI_MODEL_FILE
    assert Path(report.cell_model_path) == save_dir / CELL_MODEL_FILE
    assert (save_dir / NUCLEI_MODEL_FILE).stat().st_size > 1_000_000
    assert (save_dir / CELL_MODEL_FILE).stat().st_size > 1_000_000
    written = sorted(p.name for p in save_dir.iterdir())
    assert written == sorted([NUCLEI_MODEL_FILE, CELL_MODEL_FILE, MANIFEST_FILE])
    manifest = json.loads((save_dir / MANIFEST_FILE).read_text())
    assert manifest["cell_channel"] == "RNA" and manifest["nucleus_channel"] == "DNA"
    assert (report.n_train_sites, report.n_test_sites, report.n_epochs) == (6, 2, _TINY["n_epochs"])
    assert len(report.nuclei_train_losses) == len(report.cell_train_losses) == _TINY["n_epochs"]
    assert np.isfinite(report.nuclei_train_losses).all()
    assert np.isfinite(report.cell_train_losses).all()
    assert report.nuclei_train_losses[-1] < report.nuclei_train_losses[0]
    assert 5 < report.nuclei_diameter < report.cell_diameter < 60
    for ap in (report.nuclei_ap50, report.cell_ap50):
        assert ap is not None and 0.0 <= ap <= 1.0
    for ap in (report.consistent_nuclei_ap50, report.consistent_cell_ap50):
        assert ap is not None and 0.0 <= ap <= 1.0
    assert 0 < report.training_seconds <= seconds
    assert [step[:2] for step in steps] == [(1, 3), (2, 3), (3, 3)]
    assert json.loads(json.dumps(report.to_dict()))["model_dir"] == str(save_dir)


def test_trained_models_segment_a_held_out_site(trained) -> None:
    _, save_dir, _, _, (images, _, truth_cells) = trained
    settings = SegmentationSettings(cell_channel="RNA", cellpose_model_path=str(save_dir))
    seg = segment_with_cellpose(images, settings)
    _assert_consistent(seg, truth_cells.shape)
    assert seg.n_objects >= 1  # a 10-epoch model finds objects; its accuracy is not asserted
    # float [0, 1] after illumination correction gives the same segmentation as raw uint16
    scaled = {name: plane.astype(np.float32) / 65535 for name, plane in images.items()}
    seg_float = segment_with_cellpose(scaled, settings)
    np.testing.assert_array_equal(seg_float.cells, seg.cells)


def test_single_cell_model_file_derives_nuclei_from_dna(trained) -> None:
    _, save_dir, _, _, (images, _, truth_cells) = trained
    single_file = str(save_dir / CELL_MODEL_FILE)
    settings = SegmentationSettings(cell_channel="RNA", cellpose_model_path=single_file)
    seg = segment_with_cellpose(images, settings)
    _assert_consistent(seg, truth_cells.shape)


def test_models_refuse_other_channels(trained) -> None:
    _, save_dir, _, _, (images, _, _) = trained
    settings = SegmentationSettings(cell_channel="AGP", cellpose_model_path=str(save_dir))
    with pytest.raises(ValueError, match="trained on cell channel 'RNA'"):
        segment_with_cellpose(images, settings)

"""Shared fixtures: small synthetic plates generated once per test session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from morph_assets.lib.synthetic import SyntheticConfig, generate_plates

#: Two replicate plates, four wells (A02 is a DMSO well in JUMP-Target-1), two 160 px sites each.
SMALL_WELLS = ("A01", "A02", "A03", "B01")


@pytest.fixture(scope="session")
def small_config() -> SyntheticConfig:
    """A tiny CPJUMP1-shaped set: 2 plates x 4 wells x 2 sites x 5 channels of 160 x 160 px."""
    return SyntheticConfig(n_plates=2, wells=SMALL_WELLS, sites_per_well=2, image_size=160, seed=7)


@pytest.fixture(scope="session")
def pristine_source(tmp_path_factory: pytest.TempPathFactory, small_config: SyntheticConfig) -> Path:
    """Generated plate folders, shared read-only by every test (copy before changing)."""
    root = tmp_path_factory.mktemp("pristine_source")
    generate_plates(small_config, root)
    return root


@pytest.fixture()
def source_root(tmp_path: Path, pristine_source: Path) -> Path:
    """A private, writable copy of the generated plate folders."""
    copy = tmp_path / "source"
    shutil.copytree(pristine_source, copy)
    return copy


@pytest.fixture()
def lake_root(tmp_path: Path) -> Path:
    """An empty lake root."""
    return tmp_path / "lake"


@pytest.fixture(autouse=True)
def _fresh_defs_state_storage():
    """Start every test with no current Dagster defs-state storage.

    Dagster keeps the "current" defs-state storage in a ContextVar that an instance sets when
    entered and resets when left, and loading definitions reads it. Instances entered and left
    out of order (one closed late by the garbage collector, say) leave it pointing at a dead
    instance's storage, and the next test that builds definitions outside an instance's block
    fails with "Attempted to resolve undefined DagsterInstance weakref" (CI saw it once, in the
    browser test's setup; reproduced by hand by setting the variable to a collected instance's
    storage). Without a current storage, Dagster simply loads no saved state, which this
    project does not use.
    """
    try:
        from dagster._core.storage.defs_state.base import _current_storage
    except ImportError:  # a Dagster without defs-state storage: nothing to reset
        yield
        return
    token = _current_storage.set(None)
    yield
    try:
        _current_storage.reset(token)
    except ValueError:  # reset from another context: leave it empty
        _current_storage.set(None)

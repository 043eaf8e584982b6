"""Shared fixtures: small synthetic plates generated once per test session."""

from __future__ import annotations

import contextlib
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



def _no_current_defs_state_storage() -> None:
    """Keep Dagster from making any instance's defs-state storage "current" in this process.

    An entered instance puts its defs-state storage in a ContextVar and resets it when left, and
    loading definitions reads it. Tests enter hundreds of instances; one left by a generator that
    the garbage collector closes later resets the variable, in the middle of another test, to a
    storage whose instance is gone or whose folder was deleted, and that test's
    ``build_definitions()`` then fails ("Attempted to resolve undefined DagsterInstance
    weakref" in CI's browser-test setup; "unable to open database file" for a deleted
    ``instance_for_test`` folder). Reproduced by hand by setting the variable to a collected
    instance's storage. With no current storage Dagster loads no saved defs state, which this
    project never uses.
    """
    try:
        from dagster._core.storage.defs_state import base
    except ImportError:  # a Dagster without defs-state storage: nothing can go stale
        return

    @contextlib.contextmanager
    def leave_unset(storage):  # the instance calls it by module attribute, at __enter__
        yield

    base.set_defs_state_storage = leave_unset
    base._current_storage.set(None)


_no_current_defs_state_storage()

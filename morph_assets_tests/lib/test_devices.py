"""The one device rule: which torch device a network runs on, and which RNGs seeding forks."""

from __future__ import annotations

import pytest
import torch

from morph_assets.lib.devices import pick_device, rng_devices


def test_pick_device() -> None:
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="device"):
        pick_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_cuda_is_refused_without_cuda() -> None:
    with pytest.raises(ValueError, match="CUDA is not available"):
        pick_device("cuda:0")


def test_rng_devices() -> None:
    assert rng_devices(torch.device("cpu")) == []
    assert rng_devices(torch.device("cuda", 1)) == [1]  # an explicit index needs no CUDA to read
    if torch.cuda.is_available():
        assert rng_devices(torch.device("cuda")) == [torch.cuda.current_device()]

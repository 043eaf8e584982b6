"""The project's one rule for the torch device a network runs on, and which RNGs seeding touches.

The CNN, the VAE and Cellpose (inference and training) all ask here, so a worker with CUDA uses
it for every network and ``"auto"`` means the same everywhere. Flat at the top of ``lib``
because two stages (models, segment) use it. Importing this module imports torch: callers on
the classical path (segment without Cellpose) import it only when they need a device.
"""

from __future__ import annotations

import torch

__all__ = ["pick_device", "rng_devices"]


def pick_device(prefer: str = "auto") -> torch.device:
    """Choose the torch device to run a network on.

    Parameters
    ----------
    prefer : str
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, or ``"cuda"`` / ``"cuda:N"``.

    Returns
    -------
    torch.device
        The device.

    Raises
    ------
    ValueError
        If CUDA is asked for but not available, or ``prefer`` names another device.
    """
    if prefer == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if prefer == "cpu":
        return torch.device("cpu")
    if prefer.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {prefer!r} requested but CUDA is not available")
        return torch.device(prefer)
    raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {prefer!r}")


def rng_devices(device: torch.device) -> list[int]:
    """Return the CUDA devices whose random state ``torch.random.fork_rng`` must save for ``device``.

    Seeding a training run inside ``fork_rng(devices=rng_devices(device))`` leaves the caller's
    random state as it was; on the CPU only the CPU generator is forked.

    Parameters
    ----------
    device : torch.device
        The device the network trains on (from :func:`pick_device`).

    Returns
    -------
    list of int
        ``[]`` for the CPU, else the one CUDA device index (the current one for plain ``cuda``).
    """
    if device.type != "cuda":
        return []
    return [torch.cuda.current_device() if device.index is None else device.index]

"""Early stopping on a validation loss, one rule for every network here (CNN, VAE, crop network)."""

from __future__ import annotations

import copy

from torch import nn


class EarlyStopping:
    """Keep the state with the lowest validation loss; say when ``patience`` epochs brought none lower.

    Parameters
    ----------
    model : torch.nn.Module
        The network being trained; its initial state is the fallback best.
    patience : int
        Epochs in a row without a new lowest loss after which :meth:`update` returns True.

    Examples
    --------
    >>> stopper = EarlyStopping(nn.Linear(1, 1), patience=2)
    >>> [stopper.update(loss) for loss in (3.0, 2.0, 2.5, 2.1)]
    [False, False, False, True]
    """

    def __init__(self, model: nn.Module, patience: int) -> None:
        if patience < 1:
            raise ValueError(f"patience must be >= 1, got {patience}")
        self.model, self.patience = model, patience
        self.best_loss, self.best_state, self.stale = float("inf"), copy.deepcopy(model.state_dict()), 0

    def update(self, loss: float) -> bool:
        """Record an epoch's validation loss; True when training should stop."""
        if loss < self.best_loss:
            self.best_loss, self.best_state, self.stale = loss, copy.deepcopy(self.model.state_dict()), 0
            return False
        self.stale += 1
        return self.stale >= self.patience

    def restore(self) -> nn.Module:
        """Load the best state into the model and return it."""
        self.model.load_state_dict(self.best_state)
        return self.model

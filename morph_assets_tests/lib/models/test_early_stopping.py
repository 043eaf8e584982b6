"""Early stopping keeps the best state and stops after `patience` epochs without a lower loss."""

import pytest
import torch
from torch import nn

from morph_assets.lib.models._early_stopping import EarlyStopping


def test_early_stopping_restores_the_state_of_the_lowest_loss():
    model = nn.Linear(1, 1, bias=False)
    stopper = EarlyStopping(model, patience=2)
    stops = []
    for weight, loss in ((1.0, 5.0), (2.0, 1.0), (3.0, 1.5), (4.0, 1.0)):
        with torch.no_grad():
            model.weight.fill_(weight)
        stops.append(stopper.update(loss))
    assert stops == [False, False, False, True]  # an equal loss is not a gain
    assert float(stopper.restore().weight.detach()) == 2.0


def test_early_stopping_refuses_a_patience_below_one():
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(nn.Linear(1, 1), patience=0)

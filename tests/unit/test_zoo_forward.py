"""The one hooked forward every caller uses: first calls, truncation, errors, hooks removed."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from probecheck.errors import ProbecheckError
from probecheck.zoo.forward import hooked_forward


class Counting(nn.Module):
    """Adds one and counts its calls."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return x + 1


class Twice(nn.Module):
    """Calls ``shared`` twice, as ResNet's BasicBlock calls its ReLU, then ``last``."""

    def __init__(self) -> None:
        super().__init__()
        self.shared = Counting()
        self.last = Counting()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last(self.shared(self.shared(x) * 10))


def test_first_call_is_kept_and_truncation_stops_after_it() -> None:
    model = Twice()
    out = hooked_forward(model, torch.zeros(1), {"shared": model.shared})
    assert out["shared"].item() == 1  # the first call: 0 + 1, not (1·10) + 1
    assert model.shared.calls == 1 and model.last.calls == 0  # stopped right there


def test_without_truncation_the_whole_network_runs() -> None:
    model = Twice()
    out = hooked_forward(model, torch.zeros(1), {"shared": model.shared}, truncate=False)
    assert out["shared"].item() == 1 and model.last.calls == 1


def test_keep_turns_outputs_into_what_is_kept() -> None:
    model = Twice()
    modules = dict(model.named_modules())
    modules.pop("")
    shapes = hooked_forward(model, torch.zeros(2, 3), modules, keep=lambda t: tuple(t.shape))
    assert shapes == {"shared": (2, 3), "last": (2, 3)}


class Pair(nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x, x


def test_a_module_returning_no_tensor_is_named_or_left_out() -> None:
    model = nn.Sequential(Pair())
    with pytest.raises(ProbecheckError, match=r"layer 0 returns tuple, not a tensor"):
        hooked_forward(model, torch.zeros(1), {"0": model[0]})
    assert hooked_forward(model, torch.zeros(1), {"0": model[0]}, strict=False) == {}
    assert not model[0]._forward_hooks  # removed after the error too


def test_a_module_that_never_runs_is_named() -> None:
    model, unused = Twice(), Counting()
    with pytest.raises(ProbecheckError, match="unused never ran"):
        hooked_forward(model, torch.zeros(1), {"unused": unused})
    assert not unused._forward_hooks

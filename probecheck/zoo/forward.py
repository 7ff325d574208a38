"""The one hooked forward pass: the outputs of chosen modules, stopped once the last has run.

Every caller that needs a layer's output goes through :func:`hooked_forward`: the probe's cached
activations, its layer table, the occlusion sweep and the meta-device trace of an architecture.
Hooks are removed whatever happens; a module called twice in one forward (ResNet's shared ReLU)
reports its first call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import torch
from torch import nn

from probecheck.errors import ProbecheckError

__all__ = ["hooked_forward"]

T = TypeVar("T")


class _StopForward(Exception):
    """Raised from a hook once every requested module has run: the rest is not needed."""


def _same(output: torch.Tensor) -> Any:
    return output


def hooked_forward(
    model: nn.Module,
    batch: torch.Tensor,
    modules: Mapping[str, nn.Module],
    *,
    keep: Callable[[torch.Tensor], T] = _same,  # type: ignore[assignment]
    truncate: bool = True,
    strict: bool = True,
    named: bool = False,
    versioned: bool = False,
) -> dict[str, T]:
    """Run ``model(batch)`` under ``torch.inference_mode`` with a hook on each of ``modules``
    (path → module); ``{path: keep(output)}`` of each module's first call.

    ``truncate``: stop the forward once every module has run. ``strict``: a module whose output
    is not a tensor, or that never runs, is a ProbecheckError naming it; otherwise it is left out.
    ``keep`` turns the output into what is kept (a CPU copy: torchvision's ReLUs run in place, and
    a kept reference would report post-ReLU numbers for a pre-ReLU layer); with ``named`` it is
    called as ``keep(path, output, inputs)`` (the module's positional inputs). ``versioned``
    runs under ``torch.no_grad`` instead, where tensors count their in-place changes
    (``tensor._version``), at the same speed and with the same numbers.
    """
    captured: dict[str, T] = {}
    pending = set(modules)

    def hook_for(path: str) -> Callable[[nn.Module, object, object], None]:
        def hook(_module: nn.Module, inputs: object, output: object) -> None:
            if path in captured:  # called again in the same forward: keep the first
                return
            if not isinstance(output, torch.Tensor):
                if strict:
                    raise ProbecheckError(
                        f"layer {path} returns {type(output).__name__}, not a tensor",
                        fix="probe one of its submodules instead",
                    )
                return
            captured[path] = keep(path, output, inputs) if named else keep(output)  # type: ignore[call-arg]
            pending.discard(path)
            if truncate and not pending:
                raise _StopForward

        return hook

    handles = [module.register_forward_hook(hook_for(path)) for path, module in modules.items()]
    try:
        mode = torch.no_grad() if versioned else torch.inference_mode()
        with mode, contextlib.suppress(_StopForward):
            model(batch)
    finally:
        for handle in handles:
            handle.remove()
    never = [path for path in modules if path not in captured]
    if strict and never:
        raise ProbecheckError(f"layer(s) {', '.join(never)} never ran in the forward pass")
    return captured

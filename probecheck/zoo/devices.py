"""Device names: those the options accept, and ``auto`` resolved to what this machine has.

Checking a name costs no torch import, so ``--probe-device gpu`` is a usage error before
anything loads; resolving ``auto`` asks torch, when a model is about to load.
"""

from __future__ import annotations

import argparse
import re

DEVICE_NAME = re.compile(r"^(auto|cpu|mps|(cuda|xpu)(:\d+)?)$")


def device_name(value: str) -> str:
    """``value`` if it names a device (cpu, cuda, cuda:N, mps, xpu, auto); for argparse."""
    if not DEVICE_NAME.match(value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a device: use cpu, cuda, cuda:N, mps or auto"
        )
    return value


def resolve_device(device: str) -> str:
    """The device ``device`` names: ``auto`` is cuda where available, else mps, else cpu."""
    if device != "auto":
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"

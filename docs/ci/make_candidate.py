"""Make a candidate checkpoint from the pretrained SqueezeNet, as a retraining job would.

In a real pipeline the candidate comes from training; this script stands in for that job so the
CI gate (docs/ci/probecheck.yml) and its local rehearsal (docs/ci/rehearse.sh) have something to
check. It writes a plain ``state_dict`` (what ``torch.save(model.state_dict(), path)`` gives), so
the gate also shows that a checkpoint with no preprocessing of its own inherits the spec's.

    python docs/ci/make_candidate.py candidate.pt                  # benign: fake int8 weights
    python docs/ci/make_candidate.py candidate.pt --change prune   # or perturb
    python docs/ci/make_candidate.py lost.pt --lose-eyes           # a lost feature detector

``--lose-eyes`` zeroes the squeeze filter of the eye channel that ``specs/face.yaml`` claims
(fire6-squeeze1x1 channel 15, counting from 0 as that spec's ``index_base: 0`` does): the
claims about that channel must then fail the gate.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn

import probecheck
from probecheck.atomic import write_atomic

EYE_LAYER = "fire6-squeeze1x1"  # specs/face.yaml: fire6-eyes, fire6-eyes-pre-relu
EYE_CHANNEL = 15  # 0-based, as in that spec


def fake_int8(model: nn.Module) -> None:
    """Round every conv weight to 255 levels per output channel (symmetric int8), as quantising."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            w = module.weight.data
            scale = w.abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12) / 127
            module.weight.data = torch.round(w / scale).clamp(-127, 127) * scale


def perturb(model: nn.Module, *, relative: float = 0.01, seed: int = 0) -> None:
    """Add noise of ``relative`` × each weight tensor's std, as a short fine-tune might."""
    generator = torch.Generator().manual_seed(seed)
    for parameter in model.parameters():
        noise = torch.randn(parameter.shape, generator=generator) * parameter.data.std()
        parameter.data += relative * noise


def prune(model: nn.Module, *, fraction: float = 0.1) -> None:
    """Zero the ``fraction`` of each conv weight with the smallest magnitude."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            w = module.weight.data
            k = int(fraction * w.numel())
            if k:
                cut = w.abs().flatten().kthvalue(k).values
                w[w.abs() <= cut] = 0.0


def lose_eyes(probe: probecheck.Probe, layer: str = EYE_LAYER, channel: int = EYE_CHANNEL) -> None:
    """Zero one output channel's filter and bias: the channel is dead from then on."""
    module = dict(probe.model.named_modules())[probe.resolve(layer)]
    assert isinstance(module, nn.Conv2d), f"{layer} is a {type(module).__name__}, not a conv"
    module.weight.data[channel] = 0.0
    if module.bias is not None:
        module.bias.data[channel] = 0.0


CHANGES = {"quantise": fake_int8, "perturb": perturb, "prune": prune, "none": lambda model: None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="where to write the candidate state_dict (.pt)")
    parser.add_argument(
        "--change",
        choices=sorted(CHANGES),
        default="quantise",
        help="the benign change a retraining stands for (default: quantise, fake int8)",
    )
    parser.add_argument(
        "--lose-eyes",
        action="store_true",
        help=f"also zero {EYE_LAYER} channel {EYE_CHANNEL}, the eye detector of specs/face.yaml",
    )
    args = parser.parse_args(argv)
    probe = probecheck.load("squeezenet1_0", "deep-compression")
    with torch.no_grad():
        CHANGES[args.change](probe.model)
        if args.lose_eyes:
            lose_eyes(probe)
    state = probe.model.state_dict()
    write_atomic(args.out, lambda handle: torch.save(state, handle))
    what = args.change + (f" + {EYE_LAYER} channel {EYE_CHANNEL} zeroed" if args.lose_eyes else "")
    print(f"candidate ({what}) written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

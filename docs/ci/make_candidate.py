"""Make a candidate checkpoint from the pretrained SqueezeNet, as a retraining job would.

In a real pipeline the candidate comes from training; this script stands in for that job so the
CI gate (docs/ci/probecheck.yml) and its local rehearsal (docs/ci/rehearse.sh) have something to
check. It writes a plain ``state_dict`` (what ``torch.save(model.state_dict(), path)`` gives), so
the gate also shows that a checkpoint with no preprocessing of its own inherits the spec's.

    python docs/ci/make_candidate.py candidate.pt                  # benign: fake int8 weights
    python docs/ci/make_candidate.py candidate.pt --change prune   # or perturb
    python docs/ci/make_candidate.py candidate.pt --change perturb --size 0.005 --seed 3
    python docs/ci/make_candidate.py lost.pt --lose-eyes           # a lost feature detector
    python docs/ci/make_candidate.py lost.pt --zero relu_conv1:0   # any layer's channel(s)

The benign changes, at their default sizes, are what the gate must let through: fake int8
quantisation, noise of 1 % of each weight tensor's std (``--size 0.01``), and pruning of the 10 %
smallest weights of each conv (``--size 0.1``).

``--lose-eyes`` zeroes the filter of the eye channel that ``specs/faces.yaml`` claims over the
faces (fire7-expand1x1 channel 124, counting from 0 as that spec's ``index_base: 0`` does): the
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

EYE_LAYER = "fire7-expand1x1"  # specs/faces.yaml: eyes-across-faces, eyes-across-views
EYE_CHANNEL = 124  # 0-based, as in that spec


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


def producing_conv(probe: probecheck.Probe, layer: str) -> nn.Conv2d:
    """The convolution whose output channels ``layer`` shows: the layer itself, or for a layer
    that keeps its channels (a ReLU, a norm) the last convolution before it."""
    path = probe.resolve(layer)
    modules = list(probe.model.named_modules())
    names = [name for name, _ in modules]
    if path not in names:
        raise SystemExit(f"{layer}: no module {path!r} in the model")
    for name, module in reversed(modules[: names.index(path) + 1]):
        if isinstance(module, nn.Conv2d):
            return module
        if name != path and not isinstance(module, (nn.ReLU, nn.BatchNorm2d, nn.Identity)):
            break
    raise SystemExit(f"{layer} ({path}) is not a convolution or a ReLU right after one")


def zero_channels(probe: probecheck.Probe, layer: str, channels: list[int]) -> None:
    """Zero output channels' filters and biases (0-based): they are dead from then on."""
    module = producing_conv(probe, layer)
    for channel in channels:
        module.weight.data[channel] = 0.0
        if module.bias is not None:
            module.bias.data[channel] = 0.0


def lose_eyes(probe: probecheck.Probe, layer: str = EYE_LAYER, channel: int = EYE_CHANNEL) -> None:
    """Zero the eye channel of ``specs/faces.yaml``."""
    zero_channels(probe, layer, [channel])


def _zero_target(text: str) -> tuple[str, list[int]]:
    """``fire6-squeeze1x1:15`` or ``relu_conv1:0,3``: a layer and 0-based channels."""
    layer, _, channels = text.rpartition(":")
    try:
        numbers = [int(c) for c in channels.split(",")]
    except ValueError:
        numbers = []
    if not layer or not numbers or min(numbers) < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: write LAYER:CHANNEL[,CHANNEL…], 0-based")
    return layer, numbers


CHANGES = {
    "quantise": lambda model, size, seed: fake_int8(model),
    "perturb": lambda model, size, seed: perturb(model, relative=size or 0.01, seed=seed),
    "prune": lambda model, size, seed: prune(model, fraction=0.1 if size is None else size),
    "none": lambda model, size, seed: None,
}


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
        "--size",
        type=float,
        default=None,
        help="perturb: the noise as a fraction of each tensor's std (default 0.01); prune: the "
        "fraction of each conv's weights zeroed (default 0.1)",
    )
    parser.add_argument("--seed", type=int, default=0, help="perturb: the noise's seed")
    parser.add_argument(
        "--zero",
        type=_zero_target,
        action="append",
        default=[],
        metavar="LAYER:CH[,CH…]",
        help="also zero these output channels (0-based) of a conv layer or the ReLU after it",
    )
    parser.add_argument(
        "--lose-eyes",
        action="store_true",
        help=f"also zero {EYE_LAYER} channel {EYE_CHANNEL}, the eye detector of specs/faces.yaml",
    )
    args = parser.parse_args(argv)
    probe = probecheck.load("squeezenet1_0", "deep-compression")
    with torch.no_grad():
        CHANGES[args.change](probe.model, args.size, args.seed)
        if args.lose_eyes:
            lose_eyes(probe)
        for layer, channels in args.zero:
            zero_channels(probe, layer, channels)
    state = probe.model.state_dict()
    write_atomic(args.out, lambda handle: torch.save(state, handle))
    what = args.change + (f" + {EYE_LAYER} channel {EYE_CHANNEL} zeroed" if args.lose_eyes else "")
    what += "".join(f" + {layer} channel(s) {channels} zeroed" for layer, channels in args.zero)
    print(f"candidate ({what}) written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Incremental inference for occlusion: recompute only the cone of cells a patch changes.

A patch changes a window of the input; through a convolution or pooling it changes only the
output cells whose receptive window meets it, and so on layer by layer: a cone that widens with
depth (Nakandala, Kumar and Papakonstantinou, "Incremental and Approximate Inference for Faster
Occlusion-based Deep CNN Explanations", SIGMOD 2019). Cells outside the cone keep the unoccluded
image's values, computed once. Each node here is recomputed, for a batch of patches, on one tile
per patch: the cone's window (one size for the whole batch, so the tiles stack), intersected with
the cells the region's cells need at all (the backward cone). A tile's input is the unoccluded
map with the patch's changed cells spliced in, so every cell in a tile is computed from the very
inputs a full forward would use: the result is a full forward's, up to the order of float sums.

A :class:`Program` is built only for what it understands — ``features`` of SqueezeNet, VGG and
AlexNet: Conv2d (zeros padding), MaxPool2d (ceil mode too), AvgPool2d without padding or ceil
mode, pointwise modules and SqueezeNet's Fire — and ``None`` otherwise. Its unoccluded output is
checked against the model's own before it is trusted (``occlusion.occlude``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from probecheck.zoo.geometry import POINTWISE

__all__ = ["Program", "build_program", "splice"]

Ints = NDArray[np.int64]


@dataclass(frozen=True)
class _Window:
    """A sliding window along one axis: kernel extent (dilation included), stride, padding."""

    extent: int
    stride: int
    padding: int


@dataclass
class _Node:
    """One step of the program: ``kind`` is 'input', 'window', 'pointwise' or 'concat'."""

    kind: str
    inputs: list[int] = field(default_factory=list)
    run: Callable[[torch.Tensor], torch.Tensor] | None = None  # on an unpadded tile
    window: tuple[_Window, _Window] | None = None
    pad_value: float = 0.0
    ceil: bool = False  # ceil-mode pooling: one more window at the far end


def _pair(value: object) -> tuple[int, int] | None:
    if isinstance(value, int):
        return value, value
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return value  # type: ignore[return-value]
    return None


def _window_node(module: nn.Module, source: int) -> _Node | None:
    """A Conv2d or pooling module as a node that runs on pre-padded tiles; None if unsupported."""
    if isinstance(module, nn.Conv2d):
        if module.padding_mode != "zeros":
            return None
        kernel, stride = _pair(module.kernel_size), _pair(module.stride)
        padding, dilation = _pair(module.padding), _pair(module.dilation)
        if None in (kernel, stride, padding, dilation):
            return None
        weight, bias, groups = module.weight, module.bias, module.groups

        def run(tile: torch.Tensor) -> torch.Tensor:
            return F.conv2d(tile, weight, bias, stride, 0, dilation, groups)

        pad_value = 0.0
    elif isinstance(module, nn.MaxPool2d):
        kernel = _pair(module.kernel_size)
        stride = _pair(module.stride if module.stride else module.kernel_size)
        padding, dilation = _pair(module.padding), _pair(module.dilation)
        if None in (kernel, stride, padding, dilation) or module.return_indices:
            return None

        def run(tile: torch.Tensor) -> torch.Tensor:
            return F.max_pool2d(tile, kernel, stride, 0, dilation)

        pad_value = float("-inf")  # max pooling pads with -inf; ceil mode reads more of it
    elif isinstance(module, nn.AvgPool2d):
        kernel = _pair(module.kernel_size)
        stride = _pair(module.stride if module.stride else module.kernel_size)
        padding, dilation = _pair(module.padding), (1, 1)
        if None in (kernel, stride, padding) or padding != (0, 0) or module.ceil_mode:
            return None  # padded or ceil-mode averages divide by counts a tile cannot see
        divisor = module.divisor_override

        def run(tile: torch.Tensor) -> torch.Tensor:
            return F.avg_pool2d(tile, kernel, stride, 0, divisor_override=divisor)

        pad_value = 0.0
    else:
        return None
    windows = tuple(
        _Window((kernel[a] - 1) * dilation[a] + 1, stride[a], padding[a])  # type: ignore[index]
        for a in (0, 1)
    )
    return _Node("window", [source], run, windows, pad_value)  # type: ignore[arg-type]


@dataclass
class Program:
    """The network up to one layer as nodes, run whole once and then incrementally per patch."""

    nodes: list[_Node]
    target: int
    base: list[torch.Tensor] = field(default_factory=list)  # (1, C, h, w) per node
    padded: dict[int, torch.Tensor] = field(default_factory=dict)  # window nodes' padded input
    needed: list[tuple[tuple[int, int], tuple[int, int]]] = field(default_factory=list)
    fanout: list[int] = field(default_factory=list)  # how many nodes read each node

    def __post_init__(self) -> None:
        self.fanout = [0] * len(self.nodes)
        for node in self.nodes:
            for source in node.inputs:
                self.fanout[source] += 1

    # the unoccluded pass -------------------------------------------------------------------------
    def run_base(self, image: torch.Tensor) -> torch.Tensor:
        """Every node on the unoccluded (1, 3, H, W) input; the target's map."""
        self.base = []
        for index, node in enumerate(self.nodes):
            if node.kind == "input":
                value = image
            elif node.kind == "concat":
                value = torch.cat([self.base[i] for i in node.inputs], dim=1)
            elif node.kind == "pointwise":
                value = node.run(self.base[node.inputs[0]].clone())  # type: ignore[misc]
            else:
                source = self.base[node.inputs[0]]
                padded = self._pad(node, source)
                self.padded[index] = padded.contiguous(memory_format=torch.channels_last)
                value = node.run(padded)  # type: ignore[misc]
            # channels last: the tiles are gathered as (h, w, C) blocks, contiguous so
            self.base.append(value.contiguous(memory_format=torch.channels_last))
        return self.base[self.target]

    def _pad(self, node: _Node, source: torch.Tensor) -> torch.Tensor:
        """``source`` padded as the module pads it, and on the far side as far as its last
        window reads (ceil-mode pooling reads past the padding)."""
        pads = []
        for axis, window in zip((3, 2), reversed(node.window), strict=True):  # type: ignore[arg-type]
            length = source.shape[axis]
            out = (length + 2 * window.padding - window.extent) // window.stride + 1
            if node.ceil:
                out = _pool_length(length, window, ceil=True)
            far = (out - 1) * window.stride + window.extent - window.padding - length
            pads += [window.padding, max(far, 0)]
        return F.pad(source, pads, value=node.pad_value)

    # the cone ------------------------------------------------------------------------------------
    def set_region(self, rows: tuple[int, int], cols: tuple[int, int]) -> None:
        """The target's cells that matter ([first, last] per axis); every node's cells they need
        follow, walking the program backwards."""
        needed: list[list[int] | None] = [None] * len(self.nodes)
        needed[self.target] = [rows[0], rows[1], cols[0], cols[1]]
        for index in range(self.target, -1, -1):
            box = needed[index]
            if box is None:
                continue
            node = self.nodes[index]
            for source in node.inputs:
                if node.kind == "window":
                    box_in = []
                    for axis, window in enumerate(node.window):  # type: ignore[arg-type]
                        first, last = box[2 * axis], box[2 * axis + 1]
                        length = self.base[source].shape[2 + axis]
                        lo = max(first * window.stride - window.padding, 0)
                        hi = min(
                            last * window.stride - window.padding + window.extent - 1, length - 1
                        )
                        box_in += [lo, hi]
                else:
                    box_in = list(box)
                old = needed[source]
                needed[source] = (
                    box_in
                    if old is None
                    else [
                        min(old[0], box_in[0]),
                        max(old[1], box_in[1]),
                        min(old[2], box_in[2]),
                        max(old[3], box_in[3]),
                    ]
                )
        self.needed = [
            ((b[0], b[1]), (b[2], b[3])) if b is not None else ((0, -1), (0, -1)) for b in needed
        ]

    def patch_tiles(self, baseline: torch.Tensor, boxes: Ints) -> tuple[torch.Tensor, Ints]:
        """Occluded input tiles, one per patch: ``boxes`` (B, 4) are the patches' [y0, y1, x0, x1)
        on the input run by :meth:`run_base`, filled from ``baseline`` (the same size)."""
        image = self.base[0]
        size = [int((boxes[:, 1] - boxes[:, 0]).max()), int((boxes[:, 3] - boxes[:, 2]).max())]
        limit = np.array(image.shape[2:]) - np.array(size)
        starts = np.clip(boxes[:, [0, 2]], 0, limit)
        tiles = _fill_boxes(_gather(image, starts, size), starts, baseline, boxes)
        return tiles, starts

    def occluded(self, tiles: torch.Tensor, starts: Ints) -> tuple[torch.Tensor, Ints]:
        """The target's recomputed tiles for a batch of occluded input tiles.

        ``tiles`` (B, 3, h, w) are windows of the occluded input starting at ``starts`` (B, 2)
        (row, column), each holding its patch. Returns the target's tiles and their starts;
        the target's cells outside them are the unoccluded ones.
        """
        values: dict[int, tuple[torch.Tensor, Ints]] = {0: (tiles, starts)}
        for index in range(1, self.target + 1):
            node = self.nodes[index]
            (first, last), _ = self.needed[index]
            if last < first:
                continue  # a branch the region's cells do not read (inside a Fire)
            if node.kind == "pointwise":
                tile, start = values[node.inputs[0]]
                if self.fanout[node.inputs[0]] > 1:
                    tile = tile.clone()  # in-place activations must not touch a shared tile
                values[index] = (node.run(tile), start)  # type: ignore[misc]
            elif node.kind == "concat":
                values[index] = self._concat(index, node, values)
            else:
                values[index] = self._window(index, node, values)
        return values[self.target]

    def _window(
        self, index: int, node: _Node, values: dict[int, tuple[torch.Tensor, Ints]]
    ) -> tuple[torch.Tensor, Ints]:
        source = node.inputs[0]
        tile, start = values[source]
        size = np.array(tile.shape[2:], dtype=np.int64)
        out_start = np.empty_like(start)
        out_size = [0, 0]
        for axis, window in enumerate(node.window):  # type: ignore[arg-type]
            first = start[:, axis]
            last = first + size[axis] - 1
            # output cells whose window [o·s − p, o·s − p + extent − 1] meets [first, last]
            lo = -((window.padding - window.extent + 1 + first) // -window.stride)  # ceil
            hi = (last + window.padding) // window.stride
            need_lo, need_hi = self.needed[index][axis]
            lo, hi = np.maximum(lo, need_lo), np.minimum(hi, need_hi)
            extent = max(int((hi - lo + 1).max()), 1)
            extent = min(extent, need_hi - need_lo + 1)
            out_start[:, axis] = np.clip(lo, need_lo, need_hi - extent + 1)
            out_size[axis] = extent
        # the input each output tile reads, in padded coordinates, with the changed tile spliced
        padded = self.padded[index]
        windows = node.window  # type: ignore[assignment]
        spans = [(out_size[a] - 1) * windows[a].stride + windows[a].extent for a in (0, 1)]
        read = out_start * np.array([windows[0].stride, windows[1].stride])
        inputs = _gather(padded, read, spans)
        shift = np.array([windows[0].padding, windows[1].padding])
        inputs = splice(inputs, read, tile, start + shift)
        return node.run(inputs), out_start  # type: ignore[misc]

    def _concat(
        self, index: int, node: _Node, values: dict[int, tuple[torch.Tensor, Ints]]
    ) -> tuple[torch.Tensor, Ints]:
        firsts = np.stack([values[i][1] for i in node.inputs])  # (inputs, B, 2)
        lasts = np.stack([values[i][1] + np.array(values[i][0].shape[2:]) - 1 for i in node.inputs])
        lo, hi = firsts.min(axis=0), lasts.max(axis=0)
        size = [int((hi[:, a] - lo[:, a] + 1).max()) for a in (0, 1)]
        limit = np.array([self.base[index].shape[2], self.base[index].shape[3]])
        start = np.clip(lo, 0, limit - np.array(size))
        parts = []
        for source in node.inputs:
            tile, at = values[source]
            parts.append(splice(_gather(self.base[source], start, size), start, tile, at))
        return torch.cat(parts, dim=1), start


def _pool_length(length: int, window: _Window, ceil: bool) -> int:
    """torch's output length of a pooling window (ceil mode: a last window that starts inside
    the input or its near padding counts)."""
    span = length + 2 * window.padding - window.extent
    if not ceil:
        return span // window.stride + 1
    out = -(-span // window.stride) + 1
    if (out - 1) * window.stride >= length + window.padding:
        out -= 1
    return out


def _gather(source: torch.Tensor, starts: Ints, size: list[int]) -> torch.Tensor:
    """(B, C, h, w): the windows of ``source`` (1, C, H, W) starting at ``starts`` (B, 2), in
    one indexing (channels last in memory: what pooling and convolutions run fastest on)."""
    rows = _on(source, starts[:, :1] + np.arange(size[0]))  # (B, h)
    cols = _on(source, starts[:, 1:] + np.arange(size[1]))  # (B, w)
    picked = source[0].permute(1, 2, 0)[rows[:, :, None], cols[:, None, :]]  # (B, h, w, C)
    return picked.permute(0, 3, 1, 2)


def splice(
    target: torch.Tensor, target_starts: Ints, tile: torch.Tensor, tile_starts: Ints
) -> torch.Tensor:
    """``target`` (B, C, H, W) with each ``tile[b]`` written over the cells it shares with it
    (both placed at their starts in one frame of coordinates). Written in place where
    ``target`` is a channels-last tensor of its own (a gathered tile), else into a copy."""
    size, inner = target.shape[2:], tile.shape[2:]
    shift = tile_starts - target_starts  # (B, 2): where each tile begins inside its target
    rows = shift[:, :1] + np.arange(inner[0])  # (B, h): the target row of each tile row
    cols = shift[:, 1:] + np.arange(inner[1])
    inside = ((rows >= 0) & (rows < size[0]))[:, :, None] & ((cols >= 0) & (cols < size[1]))[
        :, None, :
    ]
    batch, i, j = np.nonzero(inside)
    out = target.permute(0, 2, 3, 1).contiguous()  # (B, H, W, C): a cell's channels in a row
    moved = tile.permute(0, 2, 3, 1)[_on(tile, batch), _on(tile, i), _on(tile, j)]
    out[_on(out, batch), _on(out, rows[batch, i]), _on(out, cols[batch, j])] = moved
    return out.permute(0, 3, 1, 2)


def _on(like: torch.Tensor, indices: NDArray) -> torch.Tensor:
    """``indices`` as a tensor on ``like``'s device."""
    return torch.from_numpy(np.ascontiguousarray(indices)).to(like.device)


def _fill_boxes(
    tiles: torch.Tensor, starts: Ints, source: torch.Tensor, boxes: Ints
) -> torch.Tensor:
    """``tiles`` (B, C, h, w) at ``starts`` with box b (``[y0, y1, x0, x1)``) of each taken from
    ``source`` (1, C, H, W) instead; a new tensor."""
    size = tiles.shape[2:]
    rows = starts[:, :1] + np.arange(size[0])  # (B, h) absolute rows
    cols = starts[:, 1:] + np.arange(size[1])
    inside = ((rows >= boxes[:, :1]) & (rows < boxes[:, 1:2]))[:, :, None] & (
        (cols >= boxes[:, 2:3]) & (cols < boxes[:, 3:4])
    )[:, None, :]
    filled = _gather(source, starts, list(size))
    return torch.where(_on(tiles, inside)[:, None], filled, tiles)


def build_program(model: nn.Module, path: str) -> Program | None:
    """The nodes of ``model`` up to the module at ``path``, or None where they cannot be built."""
    from torchvision.models import VGG, AlexNet, SqueezeNet
    from torchvision.models.squeezenet import Fire

    parts = path.split(".")
    if not isinstance(model, (SqueezeNet, VGG, AlexNet)) or parts[0] != "features":
        return None
    features = model.features
    if not isinstance(features, nn.Sequential):
        return None
    nodes = [_Node("input")]
    targets: dict[str, int] = {}

    def add(node: _Node | None) -> int:
        if node is None:
            raise _Unsupported
        nodes.append(node)
        return len(nodes) - 1

    def module_node(module: nn.Module, source: int) -> int:
        if isinstance(module, POINTWISE):
            return add(_Node("pointwise", [source], module))
        node = _window_node(module, source)
        if node is not None and isinstance(module, nn.MaxPool2d):
            node.ceil = bool(module.ceil_mode)
        return add(node)

    try:
        last = 0
        for name, child in features.named_children():
            prefix = f"features.{name}"
            if isinstance(child, Fire):
                squeeze = module_node(child.squeeze, last)
                targets[f"{prefix}.squeeze"] = squeeze
                squeezed = module_node(child.squeeze_activation, squeeze)
                targets[f"{prefix}.squeeze_activation"] = squeezed
                branches = []
                for branch in ("expand1x1", "expand3x3"):
                    conv = module_node(getattr(child, branch), squeezed)
                    targets[f"{prefix}.{branch}"] = conv
                    act = module_node(getattr(child, f"{branch}_activation"), conv)
                    targets[f"{prefix}.{branch}_activation"] = act
                    branches.append(act)
                last = add(_Node("concat", branches))
            elif type(child) in (nn.Sequential,) or list(child.children()):
                return None  # nested containers other than Fire: not analysed
            else:
                last = module_node(child, last)
            targets[prefix] = last
            if path in targets:
                break
    except _Unsupported:
        return None
    if path not in targets:
        return None
    target = targets[path]
    return Program(nodes[: target + 1], target)  # every node's inputs come before it


class _Unsupported(Exception):
    """A module the program cannot run on tiles."""

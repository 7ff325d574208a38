"""What a weights entry expects of its input: size, pixel scale, channel means and stds.

The whole image is resized to ``size`` (never center-cropped), so a pixel region of the image
maps onto the activation maps exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from probecheck.errors import ProbecheckError

CHANNEL_ORDERS = ("rgb", "bgr")


@dataclass(frozen=True)
class Preprocessing:
    """Input = (rgb / 255 * pixel_scale - mean) / std, per channel, at ``size`` (H, W).

    ``channel_order`` is the order the network reads its input channels in: ``bgr`` for a
    network converted from Caffe without flipping conv1. ``mean`` and ``std`` are written in
    that order.
    """

    size: tuple[int, int]
    pixel_scale: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    channel_order: str = "rgb"

    def to_dict(self) -> dict[str, Any]:
        """Plain types, for JSON reports and checkpoints."""
        return {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in asdict(self).items()
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessing:
        """Inverse of :meth:`to_dict`."""
        return cls(
            size=tuple(int(v) for v in data["size"]),  # type: ignore[arg-type]
            pixel_scale=float(data["pixel_scale"]),
            mean=tuple(float(v) for v in data["mean"]),  # type: ignore[arg-type]
            std=tuple(float(v) for v in data["std"]),  # type: ignore[arg-type]
            channel_order=str(data.get("channel_order", "rgb")),  # older checkpoints: rgb
        )

    def describe(self) -> str:
        """One line for tables and reports."""
        h, w = self.size
        order = f"{self.channel_order.upper()}, " if self.channel_order != "rgb" else ""
        return (
            f"{h}×{w}, {order}pixels 0..{self.pixel_scale:g}, mean {list(self.mean)}, "
            f"std {list(self.std)}"
        )


#: The Caffe release: 0..255 minus the BGR means B 104, G 117, R 123, written here in RGB order
#: because conv1's input channels are flipped once at load time.
CAFFE_SQUEEZENET = Preprocessing(
    size=(227, 227), pixel_scale=255.0, mean=(123.0, 117.0, 104.0), std=(1.0, 1.0, 1.0)
)

#: torchvision's ImageNet classification convention, used where a weights entry names none.
IMAGENET = Preprocessing(
    size=(224, 224), pixel_scale=1.0, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)
)

#: Named preprocessings for ``--probe-preprocess``.
PRESETS = {"caffe-squeezenet": CAFFE_SQUEEZENET, "imagenet": IMAGENET}


def preset(name: str) -> Preprocessing:
    """The preset called ``name``; a clear error naming the presets otherwise."""
    if name not in PRESETS:
        raise ProbecheckError(
            f"unknown preprocessing preset {name!r}",
            fix="use one of: " + ", ".join(PRESETS) + ", or a preprocess: block in the spec",
        )
    return PRESETS[name]

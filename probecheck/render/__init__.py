"""Pictures of activations and of claim verdicts (numpy, scikit-image, Pillow; no torch).

``channel_montage`` and ``maps_beside_image`` are the walkthrough's ``imtile`` views (CLI
``show``); ``write_claim_tile`` draws the diagnostic PNG of one checked claim (pytest plugin).
"""

from __future__ import annotations

from probecheck.render.montage import channel_montage, maps_beside_image, save_png
from probecheck.render.tiles import claim_tile, tile_name, write_claim_tile

__all__ = [
    "channel_montage",
    "claim_tile",
    "maps_beside_image",
    "save_png",
    "tile_name",
    "write_claim_tile",
]

"""Contact sheets: a grid of scans with their ground-truth boxes drawn, for eyeballing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

from detector.datasets.coco import CocoObject
from detector.exceptions import DatasetError

#: Box colour per class id: distinct hues, none of them the display's orange/green/blue.
CLASS_COLOURS: Final[dict[int, tuple[int, int, int]]] = {
    1: (220, 20, 60), 2: (255, 0, 255), 3: (255, 140, 0), 4: (0, 200, 200), 5: (128, 0, 128),
    6: (255, 215, 0), 7: (139, 69, 19), 8: (0, 0, 0), 9: (120, 120, 120),
}  # fmt: skip


def draw_boxes(
    rgb: npt.NDArray[np.uint8], objects: Sequence[CocoObject], *, scale: float = 1.0
) -> Image.Image:
    """The image (resized by ``scale``) with each ``[x1, y1, x2, y2]`` box and subtype drawn."""
    img = Image.fromarray(rgb)
    if scale != 1.0:
        img = img.resize(
            (max(1, round(img.width * scale)), max(1, round(img.height * scale))),
            Image.Resampling.BILINEAR,
        )
    draw = ImageDraw.Draw(img)
    for obj in objects:
        x1, y1, x2, y2 = (v * scale for v in obj.box_xyxy)
        colour = CLASS_COLOURS.get(obj.class_id, (0, 0, 0))
        draw.rectangle((x1, y1, x2, y2), outline=colour, width=2)
        draw.text((x1 + 2, max(y1 - 11, 0)), obj.subtype, fill=colour)
    return img


def contact_sheet(tiles: Sequence[Image.Image], *, columns: int, gap_px: int = 4) -> Image.Image:
    """Tiles (same size) in a grid of ``columns`` on a grey background."""
    if not tiles:
        raise DatasetError("a contact sheet needs at least one image")
    if columns < 1:
        raise DatasetError(f"columns must be >= 1, got {columns}")
    w, h = tiles[0].size
    rows = -(-len(tiles) // columns)
    sheet = Image.new(
        "RGB", (columns * (w + gap_px) + gap_px, rows * (h + gap_px) + gap_px), (90, 90, 90)
    )
    for i, tile in enumerate(tiles):
        sheet.paste(
            tile, (gap_px + (i % columns) * (w + gap_px), gap_px + (i // columns) * (h + gap_px))
        )
    return sheet

"""Tiny synthetic COCO data sets and tiny models for the detector tests (no downloads)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageDraw
from torchvision.models.detection.retinanet import RetinaNet

from detector.datasets.coco import coco_categories
from detector.model import build_retinanet, get_preset

#: Class id -> fill colour of its synthetic rectangle (distinct hues, like X-ray materials).
COLOURS = {1: (30, 30, 200), 5: (40, 160, 40), 6: (220, 120, 20), 9: (120, 60, 160)}


def write_dataset(root: Path, scenes: list[list[tuple[int, tuple[int, int, int, int]]]]) -> Path:
    """Write ``images/*.png`` + ``annotations.json``; a scene is ``[(class, (x, y, w, h))]``.

    Images are 128 x 96 white with filled rectangles; an empty scene is a clean bag.
    """
    (root / "images").mkdir(parents=True)
    images: list[dict[str, object]] = []
    annotations: list[dict[str, object]] = []
    for image_id, scene in enumerate(scenes, start=1):
        img = Image.new("RGB", (128, 96), "white")
        draw = ImageDraw.Draw(img)
        for class_id, (x, y, w, h) in scene:
            draw.rectangle([x, y, x + w - 1, y + h - 1], fill=COLOURS[class_id])
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": class_id,
                    "bbox": [x, y, w, h],
                    "subtype": "synthetic",
                }
            )
        name = f"images/{image_id:04d}.png"
        img.save(root / name)
        images.append({"id": image_id, "file_name": name, "width": 128, "height": 96})
    (root / "annotations.json").write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": coco_categories()})
    )
    return root


SCENES = [
    [(1, (10, 10, 40, 30)), (6, (80, 50, 20, 16))],
    [(5, (20, 40, 60, 14))],
    [],
    [(9, (50, 20, 30, 30)), (6, (10, 60, 18, 18))],
]


@pytest.fixture
def dataset_dir(tmp_path: Path) -> Path:
    """Four images: two with media, one clean, one with ``others`` and an SD card."""
    return write_dataset(tmp_path / "data", SCENES)


@pytest.fixture
def tiny_model() -> RetinaNet:
    """A freshly initialised ``tiny`` RetinaNet with a fixed seed."""
    torch.manual_seed(0)
    return build_retinanet(get_preset("tiny"))

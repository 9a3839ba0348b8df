"""Loads a COCO-style detection data set from a directory, the simulator's output contract.

Layout: ``<root>/images/*.png`` (RGB pseudo-colour X-ray images) and
``<root>/annotations.json`` (COCO: ``images``, ``annotations`` with ``bbox`` as
``[x, y, w, h]`` in pixels and ``category_id`` = :mod:`leakguard.classes` id, optional
``subtype`` string, ``categories`` for ids 1..9). Images without annotations are kept:
bags without media are what teaches the model not to alarm.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from detector.exceptions import DatasetError
from leakguard.classes import CLASS_NAMES

__all__ = [
    "ANNOTATIONS_FILE",
    "IMAGES_DIR",
    "CocoDetectionDirectory",
    "Sample",
    "dataset_fingerprint",
    "load_rgb",
]

ANNOTATIONS_FILE: Final[str] = "annotations.json"
IMAGES_DIR: Final[str] = "images"
#: Boxes thinner than this (pixels) carry no learnable signal and break IoU matching.
MIN_BOX_SIDE_PX: Final[float] = 1.0
#: Read size for hashing image files without loading them whole.
_HASH_CHUNK_BYTES: Final[int] = 1 << 20


@dataclass(frozen=True)
class Sample:
    """One training example.

    ``image``: ``[3, H, W]`` float32 in ``[0, 1]``; ``boxes``: ``[N, 4]`` float32
    ``x1, y1, x2, y2`` pixels; ``labels``: ``[N]`` int64 class ids 1..9; N may be 0.
    """

    image: Tensor
    boxes: Tensor
    labels: Tensor
    image_id: int

    def target(self) -> dict[str, Tensor]:
        """The target dict torchvision detection models take in training."""
        return {"boxes": self.boxes, "labels": self.labels}


def load_rgb(path: Path) -> Tensor:
    """Decode an image file to ``[3, H, W]`` float32 in ``[0, 1]``."""
    with Image.open(path) as img:
        array = np.asarray(img.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float().div_(255.0)


class CocoDetectionDirectory(Dataset[Sample]):
    """Map-style data set over ``root``; ``coco`` exposes the parsed annotation file.

    The annotation file is validated at construction (unknown category ids, missing image
    files, malformed boxes raise :class:`DatasetError`) so a bad data set fails before a
    training run starts, not hours into it.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        ann_path = self.root / ANNOTATIONS_FILE
        if not ann_path.is_file():
            raise DatasetError(f"{ann_path} not found (expected images/*.png + annotations.json)")
        try:
            self.coco: dict[str, Any] = json.loads(ann_path.read_text())
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{ann_path}: not JSON: {exc}") from exc
        self._images: list[dict[str, Any]] = sorted(
            self.coco.get("images", []), key=lambda im: int(im["id"])
        )
        by_image: dict[int, list[dict[str, Any]]] = {int(im["id"]): [] for im in self._images}
        for ann in self.coco.get("annotations", []):
            self._check_annotation(ann, by_image)
            by_image[int(ann["image_id"])].append(ann)
        self._annotations = by_image
        for im in self._images:
            if not self.image_path(im).is_file():
                raise DatasetError(f"image file missing: {self.image_path(im)}")

    @staticmethod
    def _check_annotation(ann: dict[str, Any], by_image: dict[int, list[Any]]) -> None:
        if int(ann.get("category_id", -1)) not in CLASS_NAMES:
            raise DatasetError(f"annotation {ann.get('id')}: unknown category_id")
        if int(ann.get("image_id", -1)) not in by_image:
            raise DatasetError(f"annotation {ann.get('id')}: unknown image_id")
        bbox = ann.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise DatasetError(f"annotation {ann.get('id')}: bbox must be [x, y, w, h]")

    def image_path(self, image: dict[str, Any]) -> Path:
        """Path of an image entry; ``file_name`` is relative to ``images/`` or to the root."""
        name = Path(str(image["file_name"]))
        under_images = self.root / IMAGES_DIR / name.name
        return under_images if under_images.is_file() else self.root / name

    @property
    def image_ids(self) -> list[int]:
        """COCO image ids in index order."""
        return [int(im["id"]) for im in self._images]

    def __len__(self) -> int:
        return len(self._images)

    def boxes_and_labels(self, index: int) -> tuple[Tensor, Tensor]:
        """Ground truth of one image: ``[N, 4]`` x1y1x2y2 float32 pixels and ``[N]`` int64."""
        anns = self._annotations[int(self._images[index]["id"])]
        rows = [
            (x, y, x + w, y + h, int(a["category_id"]))
            for a in anns
            for x, y, w, h in [map(float, a["bbox"])]
            if w >= MIN_BOX_SIDE_PX and h >= MIN_BOX_SIDE_PX
        ]
        boxes = torch.tensor([r[:4] for r in rows], dtype=torch.float32).reshape(-1, 4)
        labels = torch.tensor([r[4] for r in rows], dtype=torch.int64)
        return boxes, labels

    def __getitem__(self, index: int) -> Sample:
        image = load_rgb(self.image_path(self._images[index]))
        boxes, labels = self.boxes_and_labels(index)
        return Sample(image, boxes, labels, int(self._images[index]["id"]))


def dataset_fingerprint(root: Path | str) -> str:
    """SHA-256 over the annotation file and every image (sorted by name), for model cards.

    Two data sets with the same fingerprint hold byte-identical images and labels, so a model
    card names exactly what its model was trained on.
    """
    root = Path(root)
    digest = hashlib.sha256()
    files = [root / ANNOTATIONS_FILE, *sorted((root / IMAGES_DIR).glob("*"))]
    for path in files:
        if not path.is_file():
            continue
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as fh:
            while chunk := fh.read(_HASH_CHUNK_BYTES):
                digest.update(chunk)
    return digest.hexdigest()

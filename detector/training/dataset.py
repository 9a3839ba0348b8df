"""Loads a COCO-style detection data set from a directory, the simulator's output contract.

Layout: ``<root>/images/*.png`` (RGB pseudo-colour X-ray images) and
``<root>/annotations.json`` (COCO: ``images``, ``annotations`` with ``bbox`` as
``[x, y, w, h]`` in pixels and ``category_id`` = :mod:`leakguard.classes` id, optional
``subtype`` string, ``categories`` for ids 1..9). Images without annotations are kept:
bags without media are what teaches the model not to alarm.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor
from torch.utils.data import Dataset

from detector.datasets.coco import (
    ANNOTATIONS_FILE,
    IMAGES_DIR,
    CocoImage,
    images_of,
    load_rgb,
    read_coco_document,
)

__all__ = [
    "ANNOTATIONS_FILE",
    "IMAGES_DIR",
    "CocoDetectionDirectory",
    "Sample",
    "boxes_and_labels",
    "dataset_fingerprint",
    "to_tensor",
]

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


class LabelledBox(Protocol):
    """An object of ground truth: a class id and a ``[x1, y1, x2, y2]`` pixel box."""

    @property
    def class_id(self) -> int: ...

    @property
    def box_xyxy(self) -> tuple[float, float, float, float]: ...


def boxes_and_labels(objects: Iterable[LabelledBox]) -> tuple[Tensor, Tensor]:
    """Training targets of ``objects``: ``[N, 4]`` x1y1x2y2 float32 pixels and ``[N]`` int64
    class ids, without boxes thinner than :data:`MIN_BOX_SIDE_PX`."""
    kept = [
        obj
        for obj in objects
        if obj.box_xyxy[2] - obj.box_xyxy[0] >= MIN_BOX_SIDE_PX
        and obj.box_xyxy[3] - obj.box_xyxy[1] >= MIN_BOX_SIDE_PX
    ]
    boxes = torch.tensor([obj.box_xyxy for obj in kept], dtype=torch.float32)
    labels = torch.tensor([obj.class_id for obj in kept], dtype=torch.int64)
    return boxes.reshape(-1, 4), labels


def to_tensor(rgb: npt.NDArray[np.uint8]) -> Tensor:
    """``(H, W, 3)`` uint8 pixels to ``[3, H, W]`` float32 in ``[0, 1]``."""
    return torch.from_numpy(rgb.copy()).permute(2, 0, 1).float().div_(255.0)


class CocoDetectionDirectory(Dataset[Sample]):
    """Map-style data set over ``root``; ``coco`` exposes the parsed annotation file.

    The data set is validated at construction (:func:`read_coco_document`: unknown category
    ids, missing image files, malformed boxes raise :class:`DatasetError`) so a bad data set
    fails before a training run starts, not hours into it.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.coco: dict[str, Any] = read_coco_document(self.root)
        self._images: list[CocoImage] = images_of(self.coco)

    @property
    def image_ids(self) -> list[int]:
        """COCO image ids in index order."""
        return [image.image_id for image in self._images]

    def __len__(self) -> int:
        return len(self._images)

    def __getitem__(self, index: int) -> Sample:
        image = self._images[index]
        boxes, labels = boxes_and_labels(image.objects)
        return Sample(to_tensor(load_rgb(self.root, image)), boxes, labels, image.image_id)


def dataset_fingerprint(*roots: Path | str) -> str:
    """SHA-256 over the annotation file and every image (sorted by name) of each root, in order.

    Two training runs with the same fingerprint saw byte-identical images and labels, so a
    model card names exactly what its model was trained on.
    """
    digest = hashlib.sha256()
    for root in map(Path, roots):
        digest.update(b"\0dataset\0")
        for path in [root / ANNOTATIONS_FILE, *sorted((root / IMAGES_DIR).glob("*"))]:
            if not path.is_file():
                continue
            digest.update(path.name.encode() + b"\0")
            with path.open("rb") as fh:
                while chunk := fh.read(_HASH_CHUNK_BYTES):
                    digest.update(chunk)
    return digest.hexdigest()

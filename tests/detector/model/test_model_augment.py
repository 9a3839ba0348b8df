"""Augmentation moves boxes exactly with the pixels they enclose."""

from __future__ import annotations

import pytest
import torch

from detector.training.augment import Augmenter, hflip, resize, rot90, vflip
from detector.training.dataset import Sample


def _image_with_box() -> tuple[torch.Tensor, torch.Tensor]:
    image = torch.zeros(3, 20, 30)
    image[:, 4:9, 6:16] = 1.0  # rows 4..8, cols 6..15 -> box x1=6, y1=4, x2=16, y2=9
    return image, torch.tensor([[6.0, 4.0, 16.0, 9.0]])


def _box_of_pixels(image: torch.Tensor) -> list[float]:
    ys, xs = torch.nonzero(image[0] > 0.5, as_tuple=True)
    return [float(xs.min()), float(ys.min()), float(xs.max()) + 1, float(ys.max()) + 1]


@pytest.mark.parametrize(
    "transform",
    [hflip, vflip, lambda i, b: rot90(i, b, 1), lambda i, b: rot90(i, b, 3)],
    ids=["hflip", "vflip", "rot90", "rot270"],
)
def test_geometric_transforms_keep_boxes_on_their_pixels(transform: object) -> None:
    image, boxes = _image_with_box()
    out_image, out_boxes = transform(image, boxes)  # type: ignore[operator]
    assert out_boxes[0].tolist() == _box_of_pixels(out_image)


def test_resize_scales_boxes_and_augmenter_is_seeded() -> None:
    image, boxes = _image_with_box()
    out_image, out_boxes = resize(image, boxes, 2.0)
    assert out_image.shape[-2:] == (40, 60)
    assert out_boxes[0].tolist() == [12.0, 8.0, 32.0, 18.0]
    sample = Sample(image, boxes, torch.tensor([1]), 1)
    first = Augmenter()(sample, torch.Generator().manual_seed(7))
    again = Augmenter()(sample, torch.Generator().manual_seed(7))
    assert torch.equal(first.image, again.image)
    assert torch.equal(first.boxes, again.boxes)
    empty = Sample(image, torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64), 2)
    assert Augmenter()(empty, torch.Generator().manual_seed(1)).boxes.shape == (0, 4)

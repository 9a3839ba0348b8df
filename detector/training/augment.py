"""Training augmentation for X-ray images: geometry a scanner really produces, and gain drift.

Bags go through the tunnel in any orientation, so flips and 90-degree rotations are free
labels; belt speed and object distance change apparent size a little (small scale jitter);
tube and detector drift change brightness and contrast (photometric gain/offset). Colours
are not hue-shifted: in pseudo-colour X-ray images hue encodes material, which is the signal.

Every random draw comes from a ``torch.Generator`` passed in, so a (seed, step, slot) triple
reproduces the exact same augmented sample, including after a resume.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F

from detector.training.dataset import Sample

__all__ = ["Augmenter", "hflip", "resize", "rot90", "vflip"]


def hflip(image: Tensor, boxes: Tensor) -> tuple[Tensor, Tensor]:
    """Mirror left-right. ``image`` ``[3, H, W]``; ``boxes`` ``[N, 4]`` x1y1x2y2 pixels."""
    width = image.shape[-1]
    flipped = boxes[:, [2, 1, 0, 3]] * torch.tensor([-1.0, 1.0, -1.0, 1.0]) + torch.tensor(
        [width, 0.0, width, 0.0]
    )
    return image.flip(-1), flipped


def vflip(image: Tensor, boxes: Tensor) -> tuple[Tensor, Tensor]:
    """Mirror top-bottom; same shapes and box format as :func:`hflip`."""
    height = image.shape[-2]
    flipped = boxes[:, [0, 3, 2, 1]] * torch.tensor([1.0, -1.0, 1.0, -1.0]) + torch.tensor(
        [0.0, height, 0.0, height]
    )
    return image.flip(-2), flipped


def rot90(image: Tensor, boxes: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Rotate counter-clockwise by ``k * 90`` degrees (as ``torch.rot90``), boxes along.

    One quarter turn maps a point ``(x, y)`` of a ``W``-wide image to ``(y, W - x)``.
    """
    for _ in range(k % 4):
        width = image.shape[-1]
        boxes = torch.stack(
            [boxes[:, 1], width - boxes[:, 2], boxes[:, 3], width - boxes[:, 0]], dim=1
        )
        image = torch.rot90(image, 1, dims=(-2, -1))
    return image, boxes


def resize(image: Tensor, boxes: Tensor, scale: float) -> tuple[Tensor, Tensor]:
    """Bilinear rescale by ``scale``; boxes scale with the exact size ratio per axis."""
    height, width = image.shape[-2:]
    new_h, new_w = max(1, round(height * scale)), max(1, round(width * scale))
    out = F.interpolate(image[None], size=(new_h, new_w), mode="bilinear", align_corners=False)
    ratios = torch.tensor([new_w / width, new_h / height, new_w / width, new_h / height])
    return out[0], boxes * ratios


@dataclass(frozen=True)
class Augmenter:
    """Random flips, quarter turns, scale jitter and gain/offset; all probabilities in [0, 1].

    ``scale_range``: uniform resize factor; ``gain_range`` / ``offset_range``: ``image *
    gain + offset`` before clamping to ``[0, 1]``.
    """

    flip_p: float = 0.5
    rot90_p: float = 0.5
    scale_range: tuple[float, float] = (0.9, 1.1)
    gain_range: tuple[float, float] = (0.85, 1.15)
    offset_range: tuple[float, float] = (-0.05, 0.05)

    def __call__(self, sample: Sample, generator: torch.Generator) -> Sample:
        """An augmented copy of ``sample``; ``generator`` supplies every random draw."""

        def uniform(low: float, high: float) -> float:
            return low + (high - low) * float(torch.rand((), generator=generator))

        image, boxes = sample.image, sample.boxes
        if uniform(0, 1) < self.flip_p:
            image, boxes = hflip(image, boxes)
        if uniform(0, 1) < self.flip_p:
            image, boxes = vflip(image, boxes)
        if uniform(0, 1) < self.rot90_p:
            image, boxes = rot90(image, boxes, int(torch.randint(1, 4, (), generator=generator)))
        scale = uniform(*self.scale_range)
        if scale != 1.0:
            image, boxes = resize(image, boxes, scale)
        gain, offset = uniform(*self.gain_range), uniform(*self.offset_range)
        image = (image * gain + offset).clamp_(0.0, 1.0)
        return Sample(image, boxes.reshape(-1, 4), sample.labels, sample.image_id)

"""Runs a RetinaNet over a COCO directory and returns COCO result rows for evaluation.

Kept apart from the metrics so the metrics can be tested on hand-made detections and the
model loop on a tiny model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torchvision.models.detection.retinanet import RetinaNet

from detector.training.dataset import CocoDetectionDirectory

__all__ = ["predict_dataset"]


@torch.inference_mode()
def predict_dataset(
    model: RetinaNet,
    data: CocoDetectionDirectory,
    *,
    device: torch.device | str = "cpu",
    batch_size: int = 4,
    on_batch: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Detections of ``model`` (put in eval mode) on every image of ``data``.

    Returns COCO result rows ``{"image_id", "category_id", "bbox": [x, y, w, h] px,
    "score"}`` down to the model's ``score_thresh``. ``on_batch(done, total)`` reports
    progress in images.
    """
    was_training = model.training
    model.eval()
    rows: list[dict[str, Any]] = []
    total = len(data)
    for start in range(0, total, batch_size):
        samples = [data[i] for i in range(start, min(total, start + batch_size))]
        outputs = model([s.image.to(device) for s in samples])
        for sample, out in zip(samples, outputs, strict=True):
            boxes = out["boxes"].cpu()
            xywh = torch.cat([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], dim=1)
            for box, score, label in zip(
                xywh.tolist(), out["scores"].tolist(), out["labels"].tolist(), strict=True
            ):
                rows.append(
                    {
                        "image_id": sample.image_id,
                        "category_id": int(label),
                        "bbox": [round(v, 2) for v in box],
                        "score": float(score),
                    }
                )
        if on_batch is not None:
            on_batch(min(total, start + batch_size), total)
    model.train(was_training)
    return rows

"""Builders shared by the retrain tests: tiny real model artifacts and annotation events.

A uniquely named module rather than ``conftest.py``: conftest modules are not imported by
tests (``--import-mode=importlib``), and importing one under two names confuses mypy.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from pathlib import Path

from schemas.events import Annotation, Box, ImageLink, LabeledBox, Outcome, OutcomeKindName

__all__ = ["annotation", "outcomes", "save_tiny"]


def save_tiny(path: Path, *, version: str, phone_bias: float, seed: int = 0) -> Path:
    """A random ``tiny`` RetinaNet artifact; ``phone_bias`` > 0 makes it alarm (phones) on
    every frame, < 0 makes it quiet."""
    import torch

    from detector.artifacts import save_artifact
    from detector.model import MODEL_NUM_CLASSES, build_retinanet, get_preset

    torch.manual_seed(seed)
    preset = dataclasses.replace(get_preset("tiny"), detections_per_img=3)
    model = build_retinanet(preset)
    bias = model.head.classification_head.cls_logits.bias.data
    bias[:] = -6.0
    bias[3::MODEL_NUM_CLASSES] = phone_bias
    save_artifact(path, model=model, preset=preset, version=version)
    return path


def annotation(index: int, image: bytes, *, others: bool = True, lane: str = "1") -> Annotation:
    """An auto-label annotation of frame ``index``: one ``others`` box (or nothing)."""
    objects = (
        (
            LabeledBox(
                class_name="others", subtype="fp:decoration", box=Box(x1=10, y1=12, x2=60, y2=50)
            ),
        )
        if others
        else ()
    )
    return Annotation(
        checkpoint="cp",
        lane=lane,
        frame_id=f"cp/{lane}/{index:06d}",
        annotation_id=uuid.uuid4(),
        image=ImageLink(
            uri=f"file:///frames/{index}.png", sha256=hashlib.sha256(image).hexdigest()
        ),
        objects=objects,
        annotator="auto-label/1",
        source="auto_label",
        provenance={"rule": "guard rejected"},
    )


def outcomes(version: str, kind: OutcomeKindName, n: int) -> list[Outcome]:
    """``n`` reviewed outcomes of one kind for ``version``, as the cloud's join emits them."""
    return [
        Outcome(
            checkpoint="cp",
            lane="1",
            frame_id=f"f{i}",
            outcome_id=uuid.uuid4(),
            model_version=version,
            object_id="o0",
            kind=kind,
            class_name="phone",
            box=Box(x1=0, y1=0, x2=5, y2=5),
            detection_event_id=uuid.uuid4(),
        )
        for i in range(n)
    ]

"""The versioned training set: annotated frames accrue in ``pending/``, a training job
freezes them into an immutable COCO set that records where every sample came from.

Layout under ``root``::

    pending/samples.jsonl          one record per frame (the latest annotation wins)
    pending/images/<sha256>.png    the frame images, verified against their ImageLink
    sets/t0003/train/              COCO set (images/ + annotations.json) the job trains on
    sets/t0003/holdout/            COCO set of recent mistakes the gate scores on
    sets/t0003/provenance.json     per image: annotation and event ids, checkpoint, lane,
                                   frame id, image SHA-256, annotator, source, provenance

Every fifth frame (by a hash of its id, so the split never changes for a frame) goes to the
hold-out: the gate must see mistakes the candidate was not trained on.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from PIL import Image

from detector.datasets.coco import IMAGES_DIR, CocoImage, CocoObject, write_annotations
from leakguard.classes import CLASS_IDS
from retrain.annotation.auto_label import CORRECTIONS_ONLY, REVIEWED_OBJECTS
from retrain.exceptions import TrainingSetError
from schemas.events import Annotation

__all__ = ["FrozenSet", "TrainingSetStore", "is_holdout", "provenance_of"]

PENDING_DIR: Final[str] = "pending"
SETS_DIR: Final[str] = "sets"
SAMPLES_FILE: Final[str] = "samples.jsonl"
PROVENANCE_FILE: Final[str] = "provenance.json"
#: One frame in this many is held out as a recent mistake the candidate never trains on.
HOLDOUT_EVERY: Final[int] = 5
#: ``provenance["coverage"]`` of labels that cover one task of a frame, not the whole
#: image: a frame's ``fp`` and ``fn`` auto-labels add up.
PER_TASK_COVERAGES: Final[frozenset[str]] = frozenset({REVIEWED_OBJECTS, CORRECTIONS_ONLY})


def is_holdout(frame_key: str) -> bool:
    """Whether a frame belongs to the hold-out split (stable: a hash of its key)."""
    return int(hashlib.sha256(frame_key.encode()).hexdigest(), 16) % HOLDOUT_EVERY == 0


@dataclass(frozen=True)
class FrozenSet:
    """A frozen training set version: its name, train and hold-out folders, sizes."""

    name: str
    root: Path
    train_images: int
    holdout_images: int

    @property
    def train_dir(self) -> Path:
        """The COCO set to train on."""
        return self.root / "train"

    @property
    def holdout_dir(self) -> Path:
        """The COCO set of held-out recent mistakes."""
        return self.root / "holdout"


def _record(annotation: Annotation, width: int, height: int) -> dict[str, Any]:
    objects = []
    for obj in annotation.objects:
        box = obj.box
        if not (0 <= box.x1 < box.x2 <= width and 0 <= box.y1 < box.y2 <= height):
            raise TrainingSetError(
                f"box {[box.x1, box.y1, box.x2, box.y2]} of {annotation.frame_id} is empty "
                f"or outside the {width}x{height} image"
            )
        objects.append(
            {
                "class_id": CLASS_IDS[obj.class_name],
                "subtype": obj.subtype or "",
                "box": [box.x1, box.y1, box.x2, box.y2],
            }
        )
    return {
        "frame_key": "/".join((annotation.checkpoint, annotation.lane, annotation.frame_id)),
        "annotation_id": str(annotation.annotation_id),
        "event_id": str(annotation.event_id),
        "event_time": annotation.event_time.isoformat(),
        "task_id": None if annotation.task_id is None else str(annotation.task_id),
        "checkpoint": annotation.checkpoint,
        "lane": annotation.lane,
        "frame_id": annotation.frame_id,
        "image_uri": annotation.image.uri,
        "image_sha256": annotation.image.sha256.lower(),
        "width": width,
        "height": height,
        "annotator": annotation.annotator,
        "source": annotation.source,
        "provenance": dict(annotation.provenance),
        "objects": objects,
    }


def _partial_of_another_task(current: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether two auto-labels of one frame each hold only their own task's objects (a
    frame with false alarms and misses has an ``fp`` and an ``fn`` task): they add up."""
    coverages = {current["provenance"].get("coverage"), new["provenance"].get("coverage")}
    return coverages <= PER_TASK_COVERAGES and bool(current["task_id"] != new["task_id"])


def _union(first: list[dict[str, Any]], second: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Objects of both lists, each once (a replayed task must not double its boxes)."""
    merged = list(first)
    merged += [o for o in second if o not in first]
    return merged


class TrainingSetStore:
    """Pending samples and frozen set versions under ``root`` (one writer: the consumer)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._pending = self.root / PENDING_DIR
        (self._pending / IMAGES_DIR).mkdir(parents=True, exist_ok=True)
        (self.root / SETS_DIR).mkdir(parents=True, exist_ok=True)

    def pending(self) -> dict[str, dict[str, Any]]:
        """Pending records by frame key (later lines replace earlier ones)."""
        path = self._pending / SAMPLES_FILE
        records: dict[str, dict[str, Any]] = {}
        if path.is_file():
            for line in path.read_text().splitlines():
                if line.strip():
                    record = json.loads(line)
                    records[record["frame_key"]] = record
        return records

    def pending_count(self) -> int:
        """Frames waiting for the next job."""
        return len(self.pending())

    def add(self, annotation: Annotation, image: bytes) -> bool:
        """Add one annotated frame; False when this annotation is already pending.

        ``image`` must be the bytes behind ``annotation.image`` (checked against its SHA-256).
        A newer annotation of the same frame replaces the older one, except that auto-labels
        of two different tasks of the frame (:data:`PER_TASK_COVERAGES`) are merged.
        """
        if hashlib.sha256(image).hexdigest() != annotation.image.sha256.lower():
            raise TrainingSetError(f"image of {annotation.frame_id} does not match its SHA-256")
        try:
            with Image.open(io.BytesIO(image)) as decoded:
                width, height = decoded.size
        except OSError as exc:
            raise TrainingSetError(f"image of {annotation.frame_id} is not an image") from exc
        record = _record(annotation, width, height)
        current = self.pending().get(record["frame_key"])
        if current is not None and current["annotation_id"] == record["annotation_id"]:
            return False  # a redelivered event: at-least-once made idempotent
        if current is not None and current["event_time"] > record["event_time"]:
            return False  # an older annotation arriving late never replaces a newer one
        if current is not None and _partial_of_another_task(current, record):
            record["objects"] = _union(current["objects"], record["objects"])
        (self._pending / IMAGES_DIR / f"{record['image_sha256']}.png").write_bytes(image)
        with (self._pending / SAMPLES_FILE).open("a") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")
        return True

    def sets(self) -> list[FrozenSet]:
        """Frozen versions, oldest first."""
        found = sorted(d for d in (self.root / SETS_DIR).iterdir() if d.is_dir())
        return [self._frozen(d) for d in found if (d / PROVENANCE_FILE).is_file()]

    def _frozen(self, root: Path) -> FrozenSet:
        provenance = json.loads((root / PROVENANCE_FILE).read_text())
        held = sum(1 for r in provenance["samples"] if r["split"] == "holdout")
        return FrozenSet(root.name, root, len(provenance["samples"]) - held, held)

    def freeze(self) -> FrozenSet:
        """Move every pending frame into a new set version; pending is empty afterwards."""
        records = list(self.pending().values())
        if not records:
            raise TrainingSetError("no pending annotated frames to freeze")
        names = [s.name for s in self.sets()]
        name = f"t{len(names) + 1:04d}"
        staging = self.root / SETS_DIR / f"{name}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        for record in records:
            record["split"] = "holdout" if is_holdout(record["frame_key"]) else "train"
        if len(records) > 1 and all(r["split"] == "train" for r in records):
            records[0]["split"] = "holdout"  # the gate needs at least one unseen mistake
        splits: dict[str, list[CocoImage]] = {"train": [], "holdout": []}
        for record in records:
            images = splits[record["split"]]
            split = record["split"]
            file_name = f"{IMAGES_DIR}/{len(images):06d}.png"
            record["image_id"], record["file_name"] = len(images), file_name
            (staging / split / IMAGES_DIR).mkdir(parents=True, exist_ok=True)
            source = self._pending / IMAGES_DIR / f"{record['image_sha256']}.png"
            shutil.copyfile(source, staging / split / file_name)
            objects = tuple(
                CocoObject(o["class_id"], o["subtype"], tuple(o["box"])) for o in record["objects"]
            )
            images.append(
                CocoImage(len(images), file_name, record["width"], record["height"], objects)
            )
        for split, images in splits.items():
            (staging / split / IMAGES_DIR).mkdir(parents=True, exist_ok=True)
            write_annotations(staging / split, images, info={"training_set": name, "split": split})
        (staging / PROVENANCE_FILE).write_text(
            json.dumps({"name": name, "samples": records}, indent=1, sort_keys=True)
        )
        staging.rename(self.root / SETS_DIR / name)
        shutil.rmtree(self._pending)
        (self._pending / IMAGES_DIR).mkdir(parents=True)
        return self._frozen(self.root / SETS_DIR / name)


def provenance_of(frozen: FrozenSet) -> Mapping[str, Any]:
    """The provenance document of a frozen set (for ``retrain status`` and audits)."""
    data: Mapping[str, Any] = json.loads((frozen.root / PROVENANCE_FILE).read_text())
    return data

"""Several evaluation sets scored as one: one ground truth, one detection list, ids renumbered.

The checkpoint's bag target pairs two populations that one generated set holds badly: bags
with media (the `cluttered` set) and clean bags (a `no-media` set holds hundreds where a
`cluttered` set holds a hundred, so its false-alarm rate moves a point per bag). Scoring the
union gives one operating curve over both; each set's own report stays alongside.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detector.exceptions import EvaluationError

__all__ = ["ScoredSet", "combine_sets", "set_names"]


@dataclass(frozen=True)
class ScoredSet:
    """One evaluation set: its name, COCO ground truth and the detections on it (COCO result
    rows keyed by that set's image ids)."""

    name: str
    ground_truth: Mapping[str, Any]
    detections: Sequence[Mapping[str, Any]]


def set_names(roots: Sequence[Path]) -> list[str]:
    """A report folder name per set: the directory's name, refused when two sets share it
    (their reports would overwrite each other) or when one set is given twice."""
    resolved = [root.resolve() for root in roots]
    if len(set(resolved)) != len(resolved):
        raise EvaluationError("the same evaluation set is given twice")
    names = [root.name for root in resolved]
    clashing = sorted({n for n in names if names.count(n) > 1})
    if clashing:
        raise EvaluationError(
            f"evaluation sets must have distinct folder names; repeated: {', '.join(clashing)}"
        )
    return names


def _category_ids(ground_truth: Mapping[str, Any]) -> list[int]:
    return sorted(int(c["id"]) for c in ground_truth.get("categories", []))


def combine_sets(sets: Sequence[ScoredSet]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The union of ``sets`` as one COCO ground truth and its detections.

    Image and annotation ids are renumbered from 1 in set order (pycocotools indexes by id,
    and two generated sets both start at 1); a detection follows its image. File names get
    the set's name as a prefix so an image stays traceable. The sets must share their
    categories: AP per class over a union of differently labelled sets would mean nothing.
    """
    if not sets:
        raise EvaluationError("no evaluation set to combine")
    categories = list(sets[0].ground_truth.get("categories", []))
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    detections: list[dict[str, Any]] = []
    for scored in sets:
        if _category_ids(scored.ground_truth) != _category_ids(sets[0].ground_truth):
            raise EvaluationError(f"set {scored.name!r} has other categories than {sets[0].name!r}")
        new_id: dict[int, int] = {}
        for image in scored.ground_truth.get("images", []):
            new_id[int(image["id"])] = len(images) + 1
            images.append(
                {
                    **image,
                    "id": len(images) + 1,
                    "file_name": f"{scored.name}/{image.get('file_name', '')}",
                }
            )
        for ann in scored.ground_truth.get("annotations", []):
            image_id = _renumbered(new_id, ann, scored.name, "an annotation")
            annotations.append({**ann, "id": len(annotations) + 1, "image_id": image_id})
        for det in scored.detections:
            image_id = _renumbered(new_id, det, scored.name, "a detection")
            detections.append({**det, "image_id": image_id})
    document = {"images": images, "annotations": annotations, "categories": categories}
    return document, detections


def _renumbered(new_id: Mapping[int, int], row: Mapping[str, Any], name: str, what: str) -> int:
    image_id = int(row["image_id"])
    if image_id not in new_id:
        raise EvaluationError(f"{what} of set {name!r} names image {image_id}, not in the set")
    return new_id[image_id]

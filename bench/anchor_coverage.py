"""How well a preset's anchors cover each class's ground-truth boxes, as RetinaNet trains.

Run by hand: ``.venv/bin/python -m bench.anchor_coverage --data DIR [--preset edge]
[--scales 1 1.26 1.59] [--ratios 0.33 1 3] [--limit N] [--json OUT]``.

RetinaNet learns an object from the anchors its matcher assigns to it: those that overlap
the object at IoU >= the matcher's high threshold (0.5), plus, where none does, the
object's best anchor as a "low-quality" match. An object with a single weak anchor gives
its class few and poor training examples, so anchor coverage is where to look first when
thin or small classes (pen-type USB sticks, SD cards) stay behind. For every ground-truth
object this runs the preset's own torchvision parts on the data set's frames: the model's
transform (the resize the model applies), its anchor generator on the backbone's real
feature maps, and its matcher. Per class it reports the median best-anchor IoU, the share of
objects matched only as low quality (best IoU below the high threshold), and how many
anchors the matcher assigns per object. ``--scales`` / ``--ratios`` replace the preset's
to compare candidate anchor sets before paying for a training run; the anchors per location
(scales x ratios) set the head's output width, so a change needs a new head.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from statistics import median

import torch
from rich.console import Console
from rich.progress import track
from rich.table import Table
from torchvision.models.detection import RetinaNet
from torchvision.ops import box_iou

from detector.datasets.coco import CocoImage, read_dataset
from detector.model.builder import build_retinanet
from detector.model.presets import DetectorPreset, get_preset
from leakguard.classes import CLASS_NAMES

__all__ = ["AnchorMatcher", "ClassCoverage", "ObjectCoverage", "main", "summarise"]

console = Console()


@dataclass(frozen=True)
class ObjectCoverage:
    """One ground-truth object as the matcher sees it."""

    class_id: int
    best_iou: float
    #: Anchors the matcher assigns to this object (its low-quality best one included).
    assigned: int


@dataclass(frozen=True)
class ClassCoverage:
    """The objects of one class, summarised."""

    name: str
    objects: int
    median_best_iou: float
    low_quality_share: float
    mean_assigned: float
    #: Share of objects trained from one anchor or none.
    single_anchor_share: float


class AnchorMatcher:
    """The anchors and matcher of one preset, for frames of any size (cached per size)."""

    def __init__(self, preset: DetectorPreset) -> None:
        self.model: RetinaNet = build_retinanet(preset, pretrained=False).eval()
        self._by_size: dict[tuple[int, int], torch.Tensor] = {}

    @torch.no_grad()
    def anchors(self, height: int, width: int) -> torch.Tensor:
        """The ``[A, 4]`` anchors (x1, y1, x2, y2) of a ``height`` x ``width`` frame, in the
        pixels of the frame as the model resizes it."""
        if (height, width) not in self._by_size:
            image_list, _ = self.model.transform([torch.zeros(3, height, width)])
            features = list(self.model.backbone(image_list.tensors).values())
            self._by_size[height, width] = self.model.anchor_generator(image_list, features)[0]
        return self._by_size[height, width]

    @torch.no_grad()
    def match(self, image: CocoImage) -> list[ObjectCoverage]:
        """The coverage of ``image``'s objects, boxes resized as the model resizes."""
        if not image.objects:
            return []
        boxes = torch.tensor([o.box_xyxy for o in image.objects], dtype=torch.float32)
        frame = torch.zeros(3, image.height, image.width)
        _, targets = self.model.transform([frame], [{"boxes": boxes}])
        quality = box_iou(targets[0]["boxes"], self.anchors(image.height, image.width))
        matched = self.model.proposal_matcher(quality)
        assigned = torch.bincount(matched[matched >= 0], minlength=len(image.objects))
        best = quality.max(dim=1).values
        return [
            ObjectCoverage(o.class_id, float(best[i]), int(assigned[i]))
            for i, o in enumerate(image.objects)
        ]

    @property
    def high_threshold(self) -> float:
        """IoU at or above which an anchor is a positive of its object."""
        return float(self.model.proposal_matcher.high_threshold)


def summarise(objects: Sequence[ObjectCoverage], *, high_threshold: float) -> list[ClassCoverage]:
    """Per class (in class-id order) the figures of :class:`ClassCoverage`."""
    by_class: dict[int, list[ObjectCoverage]] = defaultdict(list)
    for obj in objects:
        by_class[obj.class_id].append(obj)
    return [
        ClassCoverage(
            name=CLASS_NAMES[class_id],
            objects=len(group),
            median_best_iou=median(o.best_iou for o in group),
            low_quality_share=sum(o.best_iou < high_threshold for o in group) / len(group),
            mean_assigned=sum(o.assigned for o in group) / len(group),
            single_anchor_share=sum(o.assigned <= 1 for o in group) / len(group),
        )
        for class_id, group in sorted(by_class.items())
    ]


def _table(rows: Sequence[ClassCoverage], title: str) -> Table:
    table = Table(title=title)
    columns = ("class", "objects", "median best IoU", "low quality only", "anchors each",
               "one anchor or none")  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column == "class" else "right")
    for row in rows:
        table.add_row(
            row.name,
            str(row.objects),
            f"{row.median_best_iou:.2f}",
            f"{100 * row.low_quality_share:.1f} %",
            f"{row.mean_assigned:.1f}",
            f"{100 * row.single_anchor_share:.1f} %",
        )
    return table


def main(argv: Sequence[str] | None = None) -> None:
    """Parse options, match, print and write the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True, help="data set folder")
    parser.add_argument("--preset", default="edge", help="detector preset (default: edge)")
    parser.add_argument(
        "--scales", type=float, nargs="+", help="anchor scales instead of the preset's"
    )
    parser.add_argument(
        "--ratios", type=float, nargs="+", help="aspect ratios (h / w) instead of the preset's"
    )
    parser.add_argument("--limit", type=int, default=None, help="first N images only")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    preset = get_preset(args.preset)
    preset = replace(
        preset,
        anchor_scales=tuple(args.scales or preset.anchor_scales),
        aspect_ratios=tuple(args.ratios or preset.aspect_ratios),
    )
    images = read_dataset(args.data)[: args.limit]
    matcher = AnchorMatcher(preset)
    objects = [o for image in track(images, description="matching") for o in matcher.match(image)]
    rows = summarise(objects, high_threshold=matcher.high_threshold)
    title = (
        f"anchor coverage: {args.preset}, scales {preset.anchor_scales}, ratios "
        f"{preset.aspect_ratios} ({preset.num_anchors_per_location} per location), "
        f"{len(images)} images of {args.data}"
    )
    console.print(_table(rows, title))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=1))


if __name__ == "__main__":
    main()

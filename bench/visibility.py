"""How visible each ground-truth object is in the rendered scan, against whether it was found.

Run by hand: ``.venv/bin/python -m bench.visibility --data DIR --detections FILE
[--limit N] [--threshold 0.3] [--json OUT]``.

``DIR`` is a data set of ``leakguard data generate`` (``annotations.json`` + pseudo-colour
PNGs), ``FILE`` the ``detections.json`` (COCO result rows) that ``leakguard eval`` wrote for
it. Small media (pen-type USB sticks, SD cards) stay far below the big classes' AP; this
says whether the misses are the objects the display hardly shows (small, faint, covered) or
objects a better-trained model should find. For every ground-truth object it measures:

- **size**: the box side ``sqrt(w * h)`` in pixels (a pen lying diagonally has a square
  box, so neither side alone describes it) and the box area;
- **contrast**: the Euclidean distance, in 8-bit RGB levels, between the mean colour of the
  box interior and the mean colour of a ring :data:`RING_PX` wide around it (clipped to the
  image). A difference of means measures what the object adds to its surroundings: the
  texture of clutter under and around it averages out instead of counting as signal, which a
  per-pixel difference or a CNR (divided by the ring's spread, infinite on a clean tray)
  would not do. The interior mean includes the box's empty corners, so a thin object lying
  diagonally reads fainter than it is drawn: a lower bound for pens;
- **aspect**: the box's long side over its short side (pens lying along an axis reach 10:1,
  the edge anchors stop at 3:1);
- **occlusion**: the share of the box's pixels inside other ground-truth boxes (any class);
  unlabelled clutter is not counted, so this too is a lower bound;
- where the set was generated with ``--raw``, the same difference of means in the raw
  channels: **attenuation contrast**, in units of ``-ln T`` over the (low, high) pair, and the
  ring's mean attenuation (**background**). Attenuations add where objects overlap, so an
  object adds the same attenuation on a bare tray as under a laptop, while the display
  darkens and compresses everything beyond an attenuation of 1: display levels per unit of
  attenuation contrast, for objects clear and occluded, say how much of an object the
  pseudo-colour image loses where it lies under another, which no detector trained on the
  display can get back.

An object is **found** when a detection of its class with score >= ``--threshold`` (the
demo's operating point, 0.3) overlaps it at IoU >= 0.5; **covered** when a storage-medium
detection of any class does (what opens the bag at the checkpoint; as the retrain gate
counts misses). Neither is one-to-one like COCO AP: this asks whether an object was seen.
A missed object is **scored low** when a detection of its class overlaps it at IoU >= 0.5
below the threshold (the eval keeps scores down to 0.05), **mislocalised** when one at or
above the threshold overlaps it only at 0.1 <= IoU < 0.5, otherwise **unseen**.
Per class and per subtype it reports counts, medians, recall overall and by quartile of
size and of contrast (quartiles of that class), by aspect (:data:`ASPECT_EDGES`), and the
share of objects below :data:`SMALL_SIDE_PX`, below :data:`LOW_CONTRAST` and occluded by at
least :data:`OCCLUDED_SHARE`, with their recall.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.table import Table

from detector.datasets.coco import CocoObject, load_raw, load_rgb, read_dataset
from detector.sim.simulate import RAW_FULL_SCALE
from leakguard.classes import CLASS_NAMES, is_storage_medium
from schemas.geometry import DEFAULT_MIN_IOU

#: Ring width around a box: the stride of the edge preset's finest pyramid level (P3), the
#: context one feature cell adds around an object.
RING_PX: Final[int] = 8
#: The demo's alarm threshold (``infra.demo.plan.DEMO_ALARM_THRESHOLD``; bench may not import
#: infra's demo wiring for one number).
DEMO_THRESHOLD: Final[float] = 0.3
#: "Small": a 16 px box is 2 cells of P3 and below the 24 px anchors of P4.
SMALL_SIDE_PX: Final[float] = 16.0
#: "Faint": 10 RGB levels, below every hdd, laptop and tablet of the 2,000-image evaluation
#: set: faint by the measure of the classes that reach their target.
LOW_CONTRAST: Final[float] = 10.0
#: "Occluded": a quarter of the box inside other labelled boxes.
OCCLUDED_SHARE: Final[float] = 0.25
#: Aspect bins: square, up to the 3:1 anchors, beyond them, and thin (pens along an axis).
ASPECT_EDGES: Final[tuple[float, ...]] = (1.0, 2.0, 3.0, 5.0, float("inf"))
#: Overlap above which a same-class detection that misses IoU 0.5 was aimed at the object.
NEAR_IOU: Final[float] = 0.1
#: Quartile bins of size and contrast.
N_BINS: Final[int] = 4

BoxXYXY = tuple[float, float, float, float]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ObjectVisibility:
    """One ground-truth object: its measures and whether the detections found it."""

    image_id: int
    class_id: int
    subtype: str
    box_xyxy: BoxXYXY
    side_px: float
    area_px: float
    aspect: float
    contrast: float
    occlusion: float
    found: bool
    covered: bool
    best_iou: float
    best_low_score: float
    attenuation_contrast: float | None = None
    background_attenuation: float | None = None


@dataclass(frozen=True)
class Bin:
    """Objects whose measure lies in ``[low, high]`` and the share of them found."""

    low: float
    high: float
    objects: int
    recall: float


@dataclass(frozen=True)
class GroupSummary:
    """Visibility and recall of one class or subtype (recall: found / objects)."""

    objects: int
    median_side_px: float
    median_contrast: float
    median_occlusion: float
    recall: float
    covered: float
    missed_low_score: float
    missed_mislocalised: float
    small_share: float
    small_recall: float | None
    faint_share: float
    faint_recall: float | None
    occluded_share: float
    occluded_recall: float | None
    by_size: tuple[Bin, ...]
    by_contrast: tuple[Bin, ...]
    by_aspect: tuple[Bin, ...]


@dataclass(frozen=True)
class RawSplit:
    """Objects of one class, clear or occluded, measured in the display and in the raw channels:
    medians of display contrast (RGB levels), attenuation contrast, display levels per unit of
    attenuation contrast (object by object) and background attenuation; recall."""

    objects: int
    display_contrast: float
    attenuation_contrast: float
    levels_per_attenuation: float
    background_attenuation: float
    recall: float


def _pixel_span(low: float, high: float, limit: int) -> tuple[int, int]:
    """Pixel indices ``[start, stop)`` whose centres lie in ``[low, high]``, clipped."""
    start = max(0, int(np.ceil(low - 0.5)))
    stop = min(limit, int(np.floor(high - 0.5)) + 1)
    return start, max(start, stop)


def box_and_ring_means(
    values: npt.NDArray[Any], box_xyxy: BoxXYXY, *, ring_px: int = RING_PX
) -> tuple[FloatArray, FloatArray]:
    """Mean of each channel of ``values`` (H, W, C) inside ``box_xyxy`` and in a ring around it.

    ``box_xyxy`` is ``[x1, y1, x2, y2]`` pixels. The ring is ``ring_px`` wide outside the box,
    clipped to the image. Raises ``ValueError`` when the box holds no pixel centre or the ring
    is empty (a box covering the whole image).
    """
    height, width = values.shape[:2]
    x0, x1 = _pixel_span(box_xyxy[0], box_xyxy[2], width)
    y0, y1 = _pixel_span(box_xyxy[1], box_xyxy[3], height)
    if x0 == x1 or y0 == y1:
        raise ValueError(f"box {box_xyxy} covers no pixel centre")
    ox0, ox1 = max(0, x0 - ring_px), min(width, x1 + ring_px)
    oy0, oy1 = max(0, y0 - ring_px), min(height, y1 + ring_px)
    pixels = values.astype(np.float64)
    inner_sum = pixels[y0:y1, x0:x1].sum(axis=(0, 1))
    inner_n = (y1 - y0) * (x1 - x0)
    ring_n = (oy1 - oy0) * (ox1 - ox0) - inner_n
    if ring_n == 0:
        raise ValueError(f"box {box_xyxy} leaves no ring inside the image")
    ring_mean = (pixels[oy0:oy1, ox0:ox1].sum(axis=(0, 1)) - inner_sum) / ring_n
    return inner_sum / inner_n, ring_mean


def box_contrast(values: npt.NDArray[Any], box_xyxy: BoxXYXY, *, ring_px: int = RING_PX) -> float:
    """Euclidean distance between the mean of ``values`` (H, W, C) inside ``box_xyxy`` and in
    the ring around it (:func:`box_and_ring_means`): RGB levels for a display image,
    attenuation for :func:`attenuation`."""
    inner, ring = box_and_ring_means(values, box_xyxy, ring_px=ring_px)
    return float(np.linalg.norm(inner - ring))


def attenuation(raw: npt.NDArray[np.uint16]) -> FloatArray:
    """``-ln T`` per pixel and channel of (H, W, 2) 16-bit raw channels; a pixel where nothing
    passed counts as one quantum, so the attenuation stays finite (at most ln 65535 = 11.1)."""
    transmission = np.maximum(raw.astype(np.float64), 1.0) / RAW_FULL_SCALE
    result: FloatArray = -np.log(transmission)
    return result


def occlusion(box_xyxy: BoxXYXY, others: Iterable[BoxXYXY]) -> float:
    """Share of the pixel centres of ``box_xyxy`` that lie inside any box of ``others``."""
    x0, x1 = _pixel_span(box_xyxy[0], box_xyxy[2], 1 << 30)
    y0, y1 = _pixel_span(box_xyxy[1], box_xyxy[3], 1 << 30)
    if x0 == x1 or y0 == y1:
        return 0.0
    covered = np.zeros((y1 - y0, x1 - x0), dtype=bool)
    for other in others:
        ox0, ox1 = _pixel_span(other[0], other[2], x1)
        oy0, oy1 = _pixel_span(other[1], other[3], y1)
        ox0, oy0 = max(ox0, x0), max(oy0, y0)
        if ox0 < ox1 and oy0 < oy1:
            covered[oy0 - y0 : oy1 - y0, ox0 - x0 : ox1 - x0] = True
    return float(covered.mean())


def _ious(box: BoxXYXY, boxes: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """IoU of ``box`` with each row of the (N, 4) ``[x1, y1, x2, y2]`` array ``boxes``."""
    w = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    h = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = w * h
    union = (
        (box[2] - box[0]) * (box[3] - box[1])
        + (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        - inter
    )
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def measure_image(
    rgb: npt.NDArray[np.uint8],
    objects: Sequence[CocoObject],
    detections: Sequence[Mapping[str, Any]],
    *,
    image_id: int,
    threshold: float = DEMO_THRESHOLD,
    attenuations: FloatArray | None = None,
) -> list[ObjectVisibility]:
    """Measure every object of one image against that image's detections.

    ``detections`` are COCO result rows (``category_id``, ``bbox`` ``[x, y, w, h]`` px,
    ``score``); only ``best_low_score`` looks at those below ``threshold``. ``attenuations``
    (H, W, 2), from :func:`attenuation`, adds the raw-channel measures.
    """
    boxes = np.array(
        [[x, y, x + w, y + h] for x, y, w, h in (d["bbox"] for d in detections)],
        dtype=np.float64,
    ).reshape(-1, 4)
    classes = np.array([int(d["category_id"]) for d in detections], dtype=np.int64)
    scores = np.array([float(d["score"]) for d in detections], dtype=np.float64)
    media = np.array([is_storage_medium(int(c)) for c in classes], dtype=bool)
    alarm = scores >= threshold
    result = []
    for i, obj in enumerate(objects):
        x1, y1, x2, y2 = obj.box_xyxy
        ious = _ious(obj.box_xyxy, boxes)
        hits = (ious >= DEFAULT_MIN_IOU) & alarm
        same = classes == obj.class_id
        low = (ious >= DEFAULT_MIN_IOU) & same & ~alarm
        raw_contrast = background = None
        if attenuations is not None:
            inner, ring = box_and_ring_means(attenuations, obj.box_xyxy)
            raw_contrast, background = float(np.linalg.norm(inner - ring)), float(ring.mean())
        result.append(
            ObjectVisibility(
                image_id=image_id,
                class_id=obj.class_id,
                subtype=obj.subtype,
                box_xyxy=obj.box_xyxy,
                side_px=float(np.sqrt((x2 - x1) * (y2 - y1))),
                area_px=float((x2 - x1) * (y2 - y1)),
                aspect=float(max(x2 - x1, y2 - y1) / min(x2 - x1, y2 - y1)),
                contrast=box_contrast(rgb, obj.box_xyxy),
                occlusion=occlusion(
                    obj.box_xyxy, (o.box_xyxy for j, o in enumerate(objects) if j != i)
                ),
                found=bool((hits & same).any()),
                covered=bool((hits & media).any()),
                best_iou=float(ious[same & alarm].max(initial=0.0)),
                best_low_score=float(scores[low].max(initial=0.0)),
                attenuation_contrast=raw_contrast,
                background_attenuation=background,
            )
        )
    return result


def measure(
    data: Path,
    detections: Iterable[Mapping[str, Any]],
    *,
    limit: int | None = None,
    threshold: float = DEMO_THRESHOLD,
) -> list[ObjectVisibility]:
    """Measure every object of the first ``limit`` images (all if ``None``) of a data set,
    in its raw channels too where the set has them."""
    by_image: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    for det in detections:
        by_image[int(det["image_id"])].append(det)
    images = read_dataset(data)[:limit]
    result: list[ObjectVisibility] = []
    for image in images:
        rgb = load_rgb(data, image)
        raw = None if image.raw_file_name is None else attenuation(load_raw(data, image))
        result.extend(
            measure_image(
                rgb,
                image.objects,
                by_image.get(image.image_id, []),
                image_id=image.image_id,
                threshold=threshold,
                attenuations=raw,
            )
        )
    return result


def _recall(objects: Sequence[ObjectVisibility]) -> float | None:
    return sum(o.found for o in objects) / len(objects) if objects else None


def _bins(
    objects: Sequence[ObjectVisibility],
    key: Callable[[ObjectVisibility], float],
    edges: Sequence[float] | None = None,
) -> tuple[Bin, ...]:
    """Bins of ``key`` between ``edges`` (quartiles when ``None``); ties go to the lower bin."""
    values = np.array([key(o) for o in objects])
    if edges is None:
        edges = [float(e) for e in np.quantile(values, np.linspace(0, 1, N_BINS + 1))]
    n = len(edges) - 1
    index = np.clip(np.searchsorted(edges, values, side="left") - 1, 0, n - 1)
    bins = []
    for b in range(n):
        members = [o for o, i in zip(objects, index, strict=True) if i == b]
        bins.append(Bin(edges[b], edges[b + 1], len(members), _recall(members) or 0.0))
    return tuple(bins)


def summarise(objects: Sequence[ObjectVisibility]) -> GroupSummary:
    """Medians, recall, the small and faint shares and quartile bins of a non-empty group."""
    if not objects:
        raise ValueError("no objects to summarise")
    small = [o for o in objects if o.side_px < SMALL_SIDE_PX]
    faint = [o for o in objects if o.contrast < LOW_CONTRAST]
    occluded = [o for o in objects if o.occlusion >= OCCLUDED_SHARE]
    missed = [o for o in objects if not o.found]
    low_score = [o for o in missed if o.best_low_score > 0]
    mislocalised = [o for o in missed if o.best_low_score == 0 and o.best_iou >= NEAR_IOU]
    return GroupSummary(
        objects=len(objects),
        median_side_px=float(np.median([o.side_px for o in objects])),
        median_contrast=float(np.median([o.contrast for o in objects])),
        median_occlusion=float(np.median([o.occlusion for o in objects])),
        recall=_recall(objects) or 0.0,
        covered=sum(o.covered for o in objects) / len(objects),
        missed_low_score=len(low_score) / len(objects),
        missed_mislocalised=len(mislocalised) / len(objects),
        small_share=len(small) / len(objects),
        small_recall=_recall(small),
        faint_share=len(faint) / len(objects),
        faint_recall=_recall(faint),
        occluded_share=len(occluded) / len(objects),
        occluded_recall=_recall(occluded),
        by_size=_bins(objects, lambda o: o.side_px),
        by_contrast=_bins(objects, lambda o: o.contrast),
        by_aspect=_bins(objects, lambda o: o.aspect, ASPECT_EDGES),
    )


def raw_split(objects: Sequence[ObjectVisibility]) -> RawSplit | None:
    """:class:`RawSplit` of the objects measured in raw channels; ``None`` when there are none."""
    measured = [
        (o, o.attenuation_contrast, o.background_attenuation)
        for o in objects
        if o.attenuation_contrast is not None and o.background_attenuation is not None
    ]
    if not measured:
        return None
    raw = np.array([r for _, r, _ in measured], dtype=np.float64)
    display = np.array([o.contrast for o, _, _ in measured], dtype=np.float64)
    gain = display[raw > 0] / raw[raw > 0]
    return RawSplit(
        objects=len(measured),
        display_contrast=float(np.median(display)),
        attenuation_contrast=float(np.median(raw)),
        levels_per_attenuation=float(np.median(gain)) if gain.size else float("nan"),
        background_attenuation=float(np.median([b for _, _, b in measured])),
        recall=_recall([o for o, _, _ in measured]) or 0.0,
    )


def clear_and_occluded(
    objects: Sequence[ObjectVisibility],
) -> dict[str, tuple[RawSplit | None, RawSplit | None]]:
    """Per class name, :func:`raw_split` of its objects less than :data:`OCCLUDED_SHARE`
    inside other labelled boxes and of those at least that much inside; empty without raw."""
    by_class: dict[str, list[ObjectVisibility]] = defaultdict(list)
    for o in sorted(objects, key=lambda o: o.class_id):
        if o.attenuation_contrast is not None:
            by_class[CLASS_NAMES[o.class_id]].append(o)
    return {
        name: (
            raw_split([o for o in group if o.occlusion < OCCLUDED_SHARE]),
            raw_split([o for o in group if o.occlusion >= OCCLUDED_SHARE]),
        )
        for name, group in by_class.items()
    }


def summaries(
    objects: Sequence[ObjectVisibility],
) -> tuple[dict[str, GroupSummary], dict[str, GroupSummary]]:
    """Summaries per class name (id order) and per subtype (``class/subtype``)."""
    by_class: dict[str, list[ObjectVisibility]] = defaultdict(list)
    by_subtype: dict[str, list[ObjectVisibility]] = defaultdict(list)
    for o in sorted(objects, key=lambda o: (o.class_id, o.subtype)):
        by_class[CLASS_NAMES[o.class_id]].append(o)
        by_subtype[f"{CLASS_NAMES[o.class_id]}/{o.subtype}"].append(o)
    return (
        {name: summarise(group) for name, group in by_class.items()},
        {name: summarise(group) for name, group in by_subtype.items()},
    )


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"


def _bin_cell(b: Bin, unit: str) -> str:
    if b.objects == 0:
        return "—"
    return f"{b.low:.0f}-{b.high:.0f}{unit}: {_pct(b.recall)} of {b.objects}"


def report_tables(
    by_class: Mapping[str, GroupSummary], by_subtype: Mapping[str, GroupSummary], threshold: float
) -> list[Table]:
    """The overview (per class, then per subtype) and the size, contrast and aspect bins."""
    overview = Table(title=f"Visibility and recall at score >= {threshold}, IoU >= 0.5")
    for column in (
        "group", "objects", "median side px", "median contrast", "median occl.", "recall",
        "covered", "missed: low score", "mislocalised", f"< {SMALL_SIDE_PX:.0f} px (recall)",
        f"contrast < {LOW_CONTRAST:.0f} (recall)", f"occl. >= {OCCLUDED_SHARE} (recall)",
    ):  # fmt: skip
        overview.add_column(column, justify="left" if column == "group" else "right")
    for groups in (by_class, by_subtype):
        for name, s in groups.items():
            overview.add_row(
                name, str(s.objects), f"{s.median_side_px:.1f}", f"{s.median_contrast:.1f}",
                f"{s.median_occlusion:.2f}", _pct(s.recall), _pct(s.covered),
                _pct(s.missed_low_score), _pct(s.missed_mislocalised),
                f"{_pct(s.small_share)} ({_pct(s.small_recall)})",
                f"{_pct(s.faint_share)} ({_pct(s.faint_recall)})",
                f"{_pct(s.occluded_share)} ({_pct(s.occluded_recall)})",
            )  # fmt: skip
        overview.add_section()
    tables = [overview]
    for title, attr, unit in (
        ("quartile of size", "by_size", " px"),
        ("quartile of contrast", "by_contrast", ""),
        ("aspect", "by_aspect", ":1"),
    ):
        table = Table(title=f"Recall by {title} (bin range: recall of objects)")
        table.add_column("class")
        for q in range(len(getattr(next(iter(by_class.values())), attr))):
            table.add_column(f"bin {q + 1}", justify="right")
        for name, s in by_class.items():
            table.add_row(name, *(_bin_cell(b, unit) for b in getattr(s, attr)))
        tables.append(table)
    return tables


def _split_cells(split: RawSplit | None) -> list[str]:
    if split is None:
        return ["0"] + ["—"] * 5
    return [
        str(split.objects), f"{split.display_contrast:.1f}", f"{split.attenuation_contrast:.3f}",
        f"{split.levels_per_attenuation:.0f}", f"{split.background_attenuation:.2f}",
        _pct(split.recall),
    ]  # fmt: skip


def raw_table(splits: Mapping[str, tuple[RawSplit | None, RawSplit | None]]) -> Table:
    """Display against raw channels per class, clear and occluded (:func:`clear_and_occluded`)."""
    table = Table(
        title=f"Display against raw channels: clear | >= {OCCLUDED_SHARE} occluded (medians)"
    )
    table.add_column("class")
    for side in ("clear", "occl."):
        for column in ("objects", "display", "attenuation", "levels/att.", "background", "recall"):
            table.add_column(f"{side} {column}", justify="right")
    for name, (clear, occluded) in splits.items():
        table.add_row(name, *_split_cells(clear), *_split_cells(occluded))
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="data set folder")
    parser.add_argument("--detections", type=Path, required=True, help="detections.json")
    parser.add_argument("--limit", type=int, default=None, help="first N images only")
    parser.add_argument("--threshold", type=float, default=DEMO_THRESHOLD)
    parser.add_argument("--json", type=Path, default=Path("/tmp/leakguard_visibility.json"))
    args = parser.parse_args()
    objects = measure(
        args.data,
        json.loads(args.detections.read_text()),
        limit=args.limit,
        threshold=args.threshold,
    )
    by_class, by_subtype = summaries(objects)
    splits = clear_and_occluded(objects)
    console = Console(width=200)
    for table in report_tables(by_class, by_subtype, args.threshold):
        console.print(table)
    if splits:
        console.print(raw_table(splits))
    args.json.write_text(
        json.dumps(
            {
                "data": str(args.data),
                "detections": str(args.detections),
                "images": len({o.image_id for o in objects}),
                "threshold": args.threshold,
                "ring_px": RING_PX,
                "classes": {k: asdict(v) for k, v in by_class.items()},
                "subtypes": {k: asdict(v) for k, v in by_subtype.items()},
                "clear_and_occluded": {
                    k: [None if v is None else asdict(v) for v in pair]
                    for k, pair in splits.items()
                },
                "objects": [asdict(o) for o in objects],
            },
            indent=1,
        )
    )
    console.print(f"{len(objects)} objects; JSON written to {args.json}")


if __name__ == "__main__":
    main()

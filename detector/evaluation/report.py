"""The evaluation report: COCO AP plus bag-level figures, as JSON, Markdown and PR-curve PNGs.

The JSON is for machines (model cards, the retrain gate, dashboards); the Markdown is what a
person reads after ``leakguard eval``; the PNGs show where on the PR curve the operating
threshold sits. The operating curve (at one threshold for every medium, from 0.1 to 0.9:
the bags' detection rate, false-alarm rate and PPV, and per object the share of media no
alarm covers and of alarms on no medium) is there to choose a checkpoint's
``--alarm-threshold`` from one evaluation instead of one run per threshold. The detections
scored are saved too (``detections.json``, COCO result rows) for analyses that need them
(``bench.visibility``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from detector.evaluation.alarms import AlarmMistakes, alarm_mistakes
from detector.evaluation.bags import BagMetrics, bag_metrics
from detector.evaluation.coco_ap import CocoMetrics, evaluate_coco
from leakguard.classes import CLASS_NAMES, STORAGE_MEDIA_CLASS_IDS, alarm_thresholds

__all__ = ["CurvePoint", "EvaluationReport", "build_report", "format_percent", "write_report"]

REPORT_JSON: Final[str] = "report.json"
SUMMARY_MD: Final[str] = "summary.md"
DETECTIONS_JSON: Final[str] = "detections.json"
PR_DIR: Final[str] = "pr_curves"
#: Thresholds of the operating curve: every 0.05 from 0.1 (the engine's lowest returned
#: score) to 0.9.
CURVE_THRESHOLDS: Final[tuple[float, ...]] = tuple(round(0.1 + 0.05 * i, 2) for i in range(17))
#: The original study's headline figures, printed next to ours for orientation.
PAPER_MAP50_MEDIA: Final[float] = 0.9592
PAPER_AP50_USB_PEN: Final[float] = 0.656


@dataclass(frozen=True)
class CurvePoint:
    """The checkpoint's figures at one threshold for every storage medium: per bag and per
    object."""

    threshold: float
    bags: BagMetrics
    alarms: AlarmMistakes

    def to_dict(self) -> dict[str, Any]:
        """JSON form: the bag figures flat, the per-object counts and rates under ``objects``."""
        return {"threshold": self.threshold, **asdict(self.bags), "objects": _objects(self.alarms)}


@dataclass(frozen=True)
class EvaluationReport:
    """COCO metrics, bag metrics and per-object alarm decisions of one model on one data set
    at one operating point, the same at each of :data:`CURVE_THRESHOLDS`
    (``operating_curve``), and the detections scored (COCO result rows). ``sets`` names the
    data sets scored (several when their union is: :mod:`detector.evaluation.sets`)."""

    coco: CocoMetrics
    bags: BagMetrics
    alarms: AlarmMistakes
    thresholds: Mapping[int, float]
    num_images: int
    num_annotations: int
    operating_curve: tuple[CurvePoint, ...]
    model_version: str | None = None
    detections: tuple[Mapping[str, Any], ...] = ()
    sets: tuple[str, ...] = ()

    def flat_metrics(self) -> dict[str, float]:
        """Scalar metrics only (``None`` dropped), for model cards and training curves."""
        flat: dict[str, float | None] = {
            "map50_media": self.coco.map50_media,
            "map50_all": self.coco.map50_all,
            "ap50_95": self.coco.ap50_95,
            "bag_detection_rate": self.bags.detection_rate,
            "bag_false_alarm_rate": self.bags.false_alarm_rate,
            "bag_ppv": self.bags.ppv,
            "media_miss_rate": _miss_rate(self.alarms),
            "alarm_false_rate": _alarm_false_rate(self.alarms),
        }
        for cat, ap in self.coco.ap50.items():
            flat[f"ap50/{CLASS_NAMES[cat]}"] = ap
        return {k: v for k, v in flat.items() if v is not None}

    def to_dict(self) -> dict[str, Any]:
        """JSON form; per-class figures keyed by class name."""
        return {
            "model_version": self.model_version,
            "sets": list(self.sets),
            "num_images": self.num_images,
            "num_annotations": self.num_annotations,
            "map50_media": self.coco.map50_media,
            "map50_all": self.coco.map50_all,
            "ap50_95": self.coco.ap50_95,
            "per_class": {
                CLASS_NAMES[c]: {
                    "class_id": c,
                    "ap50": self.coco.ap50[c],
                    "ap50_95": self.coco.ap50_95_per_class[c],
                }
                for c in self.coco.ap50
            },
            "operating_point": {
                "thresholds": {CLASS_NAMES[c]: t for c, t in sorted(self.thresholds.items())},
                **asdict(self.bags),
                "objects": _objects(self.alarms),
            },
            "operating_curve": [point.to_dict() for point in self.operating_curve],
        }


def _miss_rate(alarms: AlarmMistakes) -> float | None:
    """The miss rate, ``None`` on a set without media (a clean-bag set misses nothing it
    could have found; 0 would read as a perfect detector)."""
    return alarms.miss_rate if alarms.media else None


def _alarm_false_rate(alarms: AlarmMistakes) -> float | None:
    """The share of alarms on no medium, ``None`` where nothing alarmed."""
    return alarms.false_alarm_rate if alarms.alarms else None


def _objects(alarms: AlarmMistakes) -> dict[str, Any]:
    return {
        **asdict(alarms),
        "miss_rate": _miss_rate(alarms),
        "false_alarm_rate": _alarm_false_rate(alarms),
    }


def build_report(
    ground_truth: dict[str, Any],
    detections: Sequence[Mapping[str, Any]],
    *,
    thresholds: Mapping[int, float],
    model_version: str | None = None,
    sets: Sequence[str] = (),
) -> EvaluationReport:
    """Evaluate COCO result rows against a COCO ground truth at ``thresholds`` (class->score);
    ``sets`` names the data sets the ground truth holds."""
    curve = []
    for threshold in CURVE_THRESHOLDS:
        at = alarm_thresholds(threshold)
        curve.append(
            CurvePoint(
                threshold,
                bag_metrics(ground_truth, detections, at),
                alarm_mistakes(ground_truth, detections, at),
            )
        )
    return EvaluationReport(
        coco=evaluate_coco(ground_truth, detections),
        bags=bag_metrics(ground_truth, detections, thresholds),
        alarms=alarm_mistakes(ground_truth, detections, thresholds),
        thresholds=dict(thresholds),
        num_images=len(ground_truth.get("images", [])),
        num_annotations=len(ground_truth.get("annotations", [])),
        model_version=model_version,
        operating_curve=tuple(curve),
        detections=tuple(detections),
        sets=tuple(sets),
    )


def format_percent(value: float | None) -> str:
    """A rate as people read it in reports and the CLI: ``12.34 %``, ``n/a`` without a base."""
    return "n/a" if value is None else f"{100 * value:.2f} %"


def render_markdown(report: EvaluationReport) -> str:
    """Human summary: headline AP, per-class table, checkpoint-level figures."""
    c, b, a = report.coco, report.bags, report.alarms
    title = f" — model {report.model_version}" if report.model_version else ""
    scored = f" of {', '.join(report.sets)}" if report.sets else ""
    lines = [
        f"# Detector evaluation{title}",
        "",
        f"{report.num_images} images{scored}, {report.num_annotations} annotated objects.",
        "",
        f"- **mAP@0.5, storage media**: {format_percent(c.map50_media)} "
        f"(original study: {format_percent(PAPER_MAP50_MEDIA)})",
        f"- mAP@0.5, all classes: {format_percent(c.map50_all)}",
        f"- AP@[.5:.95]: {format_percent(c.ap50_95)}",
        "",
        "| class | id | AP@0.5 | AP@[.5:.95] | alarms |",
        "|---|---:|---:|---:|---|",
    ]
    for cat in sorted(c.ap50):
        alarms = "yes" if cat in STORAGE_MEDIA_CLASS_IDS else "never"
        lines.append(
            f"| {CLASS_NAMES[cat]} | {cat} | {format_percent(c.ap50[cat])} | "
            f"{format_percent(c.ap50_95_per_class[cat])} | {alarms} |"
        )
    thresholds = ", ".join(
        f"{CLASS_NAMES[k]} {v:.2f}" for k, v in sorted(report.thresholds.items())
    )
    lines += [
        "",
        f"pen-type USB AP@0.5 in the original study: {format_percent(PAPER_AP50_USB_PEN)}.",
        "",
        "## At the checkpoint",
        "",
        f"Operating thresholds: {thresholds}.",
        "",
        f"- Bag detection rate: {format_percent(b.detection_rate)} "
        f"({b.alarmed_media_bags} of {b.media_bags} bags with media alarm)",
        f"- False-alarm rate: {format_percent(b.false_alarm_rate)} "
        f"({b.alarmed_clean_bags} of {b.clean_bags} bags without media alarm)",
        f"- Positive predictive value: {format_percent(b.ppv)}",
        f"- Media missed, per object: {format_percent(_miss_rate(a))} "
        f"({a.misses} of {a.media} storage media no alarm covers)",
        f"- Alarms on no medium: {format_percent(_alarm_false_rate(a))} "
        f"({a.false_alarms} of {a.alarms})",
        "",
    ]
    lines += [
        "## Operating curve (one threshold for every medium)",
        "",
        "| threshold | bag detection rate | false-alarm rate | PPV | media missed "
        "| alarms on no medium |",
        "|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {p.threshold:.2f} | {format_percent(p.bags.detection_rate)} "
            f"| {format_percent(p.bags.false_alarm_rate)} | {format_percent(p.bags.ppv)} "
            f"| {format_percent(_miss_rate(p.alarms))} "
            f"| {format_percent(_alarm_false_rate(p.alarms))} |"
            for p in report.operating_curve
        ),
        "",
    ]
    return "\n".join(lines)


def _plot_pr(report: EvaluationReport, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for cat, curve in sorted(report.coco.pr_curves.items()):
        fig, ax = plt.subplots(figsize=(4, 4))
        ax.plot(curve.recall, curve.precision)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_title(f"{CLASS_NAMES[cat]}: AP@0.5 {format_percent(report.coco.ap50[cat])}")
        fig.tight_layout()
        path = out_dir / f"pr_{cat}_{CLASS_NAMES[cat]}.png"
        fig.savefig(path, dpi=80)
        plt.close(fig)
        paths.append(path)
    return paths


def write_report(report: EvaluationReport, out_dir: Path) -> dict[str, Path]:
    """Write ``report.json``, ``summary.md``, ``detections.json`` and ``pr_curves/*.png``
    under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / REPORT_JSON, out_dir / SUMMARY_MD
    detections_path = out_dir / DETECTIONS_JSON
    json_path.write_text(json.dumps(report.to_dict(), indent=2))
    md_path.write_text(render_markdown(report))
    detections_path.write_text(json.dumps(list(report.detections)))
    written = {"json": json_path, "markdown": md_path, "detections": detections_path}
    for path in _plot_pr(report, out_dir / PR_DIR):
        written[path.stem] = path
    return written

"""Evaluation: COCO AP via pycocotools, bag-level checkpoint figures, JSON/Markdown/PNG reports."""

from detector.evaluation.alarms import AlarmMistakes, alarm_mistakes
from detector.evaluation.bags import BagMetrics, bag_metrics
from detector.evaluation.coco_ap import CocoMetrics, PrCurve, evaluate_coco
from detector.evaluation.report import CurvePoint, EvaluationReport, build_report, write_report
from detector.evaluation.runner import evaluate_model

__all__ = [
    "AlarmMistakes",
    "BagMetrics",
    "CocoMetrics",
    "CurvePoint",
    "EvaluationReport",
    "PrCurve",
    "alarm_mistakes",
    "bag_metrics",
    "build_report",
    "evaluate_coco",
    "evaluate_model",
    "write_report",
]

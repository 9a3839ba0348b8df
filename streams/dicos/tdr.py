"""The DICOS Threat Detection Report (TDR) of one detection, written and read with pydicom.

A report answers one scan the scanner sent: it repeats the scan's Study Instance UID and
names the scanned series and image object (Referenced Series Sequence, and again in each
threat's representation), so the scanner's console can put the alarms on its own image. Each
alarming object becomes one potential threat object (PTO): its class (as Threat Category
and, exactly, as Threat Category Description), the detector's score (ATD Assessment
Probability) and its box in pixels of the scanned image (Threat ROI Base and Extents).
Objects under the alarm threshold are not reported: a scanner console shows threats.

The report's own UIDs derive from the ``Detection``'s event id, so a replayed detection
rewrites the same file rather than adding a second report.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from typing import Any, Final

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import UID

from leakguard.classes import CLASS_IDS
from schemas.events import Detection
from streams.dicos.common import (
    DICOS_TDR,
    dataset_bytes,
    dicom_datetime,
    parse_dicom_datetime,
    uid_from_uuid,
)
from streams.dicos.exceptions import DicosError
from streams.logic.views import item_groups

__all__ = ["ALGORITHM", "Threat", "ThreatReport", "read_tdr", "report_of", "write_tdr"]

#: First value of Threat Detection Algorithm and Version; the model version follows it.
ALGORITHM: Final = "leakguard RetinaNet"
#: DICOS Threat Category per class: a laptop has its own defined term, every other storage
#: medium is contraband at a checkpoint that guards data; ``others`` never alarms.
_CATEGORIES: Final[dict[str, str]] = {"laptop": "LAPTOP", "others": "OTHER"}
_DEFAULT_CATEGORY: Final = "CONTRABAND"
#: Names the TDR series of a detection (a UUIDv5 of its event id in this namespace).
_SERIES_NAMESPACE: Final = uuid.UUID("0f8a7d4e-61c2-5e0b-9d35-74647220646c")


@dataclass(frozen=True, kw_only=True)
class Threat:
    """One potential threat object: class, score in [0, 1], box ``[x1, y1, x2, y2]`` pixels."""

    class_name: str
    score: float
    box: tuple[float, float, float, float]


@dataclass(frozen=True, kw_only=True)
class ThreatReport:
    """What a TDR says, and which scan it answers."""

    sop_instance_uid: str
    series_instance_uid: str
    study_instance_uid: str
    referenced_series_instance_uid: str
    referenced_sop_class_uid: str
    referenced_sop_instance_uid: str
    alarm: bool
    model_version: str
    decided_at: datetime | None
    threats: tuple[Threat, ...]


def report_of(detection: Detection) -> ThreatReport:
    """The report of ``detection``, whose frame must have come from a DICOS scan."""
    if detection.scan is None:
        raise DicosError(f"detection of {detection.frame_id} names no DICOS scan")
    return ThreatReport(
        sop_instance_uid=uid_from_uuid(detection.event_id),
        series_instance_uid=uid_from_uuid(uuid.uuid5(_SERIES_NAMESPACE, str(detection.event_id))),
        study_instance_uid=detection.scan.study_instance_uid,
        referenced_series_instance_uid=detection.scan.series_instance_uid,
        referenced_sop_class_uid=detection.scan.sop_class_uid,
        referenced_sop_instance_uid=detection.scan.sop_instance_uid,
        alarm=detection.alarmed,
        model_version=detection.model_version,
        decided_at=detection.event_time,
        threats=_threats(detection),
    )


def _threats(detection: Detection) -> tuple[Threat, ...]:
    """One threat per alarmed item, boxed in the primary view, the only image the report
    references (a multi-view frame's other views have no SOP Instance UID in the event): an
    item that alarmed in another view takes its primary-view object's box and its best
    alarmed object's class and score; an item not seen in the primary view has no box there
    and is left out, while the report still alarms."""
    threats = []
    for group in item_groups(detection.objects).values():
        alarmed = [obj for obj in group if obj.alarmed]
        primary = next((obj for obj in group if obj.view_id is None), None)
        if alarmed and primary is not None:
            best = max(alarmed, key=lambda obj: (obj.view_id is None, obj.score))
            box = (primary.box.x1, primary.box.y1, primary.box.x2, primary.box.y2)
            threats.append(Threat(class_name=best.class_name, score=best.score, box=box))
    return tuple(threats)


def write_tdr(report: ThreatReport) -> bytes:
    """``report`` as a DICOS TDR Part 10 file."""
    ds = Dataset()
    ds.SOPClassUID = DICOS_TDR
    ds.SOPInstanceUID = UID(report.sop_instance_uid)
    ds.StudyInstanceUID = UID(report.study_instance_uid)
    ds.SeriesInstanceUID = UID(report.series_instance_uid)
    ds.Modality = "TDR"
    ds.Manufacturer = "leakguard"
    ds.TDRType = "MACHINE"
    ds.AlarmDecision = "ALARM" if report.alarm else "CLEAR"
    if report.decided_at is not None:
        ds.AlarmDecisionTime = dicom_datetime(report.decided_at)
    ds.ThreatDetectionAlgorithmAndVersion = [ALGORITHM, report.model_version[:64]]
    scanned = Dataset()
    scanned.SeriesInstanceUID = UID(report.referenced_series_instance_uid)
    scanned.ReferencedInstanceSequence = [_referenced(report)]
    ds.ReferencedSeriesSequence = [scanned]
    ds.NumberOfTotalObjects = len(report.threats)
    ds.NumberOfAlarmObjects = len(report.threats)
    ds.ThreatSequence = [
        _threat_item(index, threat, report) for index, threat in enumerate(report.threats)
    ]
    return dataset_bytes(ds, sop_class=DICOS_TDR)


def _threat_item(index: int, threat: Threat, report: ThreatReport) -> Dataset:
    assessment = Dataset()
    assessment.ThreatCategory = _CATEGORIES.get(threat.class_name, _DEFAULT_CATEGORY)
    assessment.ThreatCategoryDescription = threat.class_name
    assessment.ATDAssessmentFlag = "THREAT"
    assessment.ATDAssessmentProbability = float(threat.score)
    x1, y1, x2, y2 = threat.box
    representation = Dataset()
    representation.ReferencedInstanceSequence = [_referenced(report)]
    representation.ThreatROIBase = [float(x1), float(y1), 0.0]
    representation.ThreatROIExtents = [float(x2 - x1), float(y2 - y1), 0.0]
    item = Dataset()
    item.PotentialThreatObjectID = index
    item.ATDAssessmentSequence = [assessment]
    item.PTORepresentationSequence = [representation]
    return item


def _referenced(report: ThreatReport) -> Dataset:
    referenced = Dataset()
    referenced.ReferencedSOPClassUID = UID(report.referenced_sop_class_uid)
    referenced.ReferencedSOPInstanceUID = UID(report.referenced_sop_instance_uid)
    return referenced


def read_tdr(data: bytes) -> ThreatReport:
    """The report in ``data`` (a TDR this module wrote, or one of the same layout)."""
    try:
        ds = dcmread(BytesIO(data), force=False)
        if str(ds.get("SOPClassUID", "")) != DICOS_TDR:
            raise DicosError(f"SOP class {ds.get('SOPClassUID')} is not a DICOS TDR")
        return _report_of(ds)
    except DicosError:
        raise
    except Exception as exc:  # pydicom raises many unrelated types on malformed input
        raise DicosError(f"malformed TDR: {exc}") from exc


def _report_of(ds: Any) -> ThreatReport:
    threats = []
    for item in ds.get("ThreatSequence", []):
        assessment = item.ATDAssessmentSequence[0]
        representation = item.PTORepresentationSequence[0]
        x, y, _ = representation.ThreatROIBase
        width, height, _ = representation.ThreatROIExtents
        name = str(assessment.ThreatCategoryDescription)
        if name not in CLASS_IDS:
            raise DicosError(f"unknown class {name!r} in a threat")
        threats.append(
            Threat(
                class_name=name,
                score=float(assessment.ATDAssessmentProbability),
                box=(float(x), float(y), float(x + width), float(y + height)),
            )
        )
    algorithm = list(ds.get("ThreatDetectionAlgorithmAndVersion", []))
    scanned = ds.ReferencedSeriesSequence[0]
    referenced = scanned.ReferencedInstanceSequence[0]
    return ThreatReport(
        sop_instance_uid=str(ds.SOPInstanceUID),
        series_instance_uid=str(ds.SeriesInstanceUID),
        study_instance_uid=str(ds.StudyInstanceUID),
        referenced_series_instance_uid=str(scanned.SeriesInstanceUID),
        referenced_sop_class_uid=str(referenced.ReferencedSOPClassUID),
        referenced_sop_instance_uid=str(referenced.ReferencedSOPInstanceUID),
        alarm=str(ds.get("AlarmDecision", "")) == "ALARM",
        model_version=str(algorithm[1]) if len(algorithm) > 1 else "",
        decided_at=parse_dicom_datetime(ds.get("AlarmDecisionTime")),
        threats=tuple(threats),
    )

"""A dual-energy X-ray view as a DICOS Digital X-Ray object, read and written with pydicom.

One object per view holds two frames: the high- and the low-energy plane, 16-bit unsigned,
linear in the transmitted intensity (air is the full scale, ``2**BitsStored - 1``). Each
frame says which plane it is by its Frame Label in the per-frame functional groups, so the
reader never relies on the order. The detector sees neither plane: it gets the
pseudo-colour image the simulator's display computes from the two, the view it was trained
on (:func:`display_image`).

Everything a reader takes from the file is checked against the limits below before pixels
are touched: a file from a scanner's folder is hostile until proven otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from schemas.events import ScanReference
from streams.dicos.common import (
    DICOS_DX_FOR_PROCESSING,
    dataset_bytes,
    dicom_datetime,
    is_uid,
    parse_dicom_datetime,
)
from streams.dicos.exceptions import DicosError

__all__ = [
    "HIGH_ENERGY",
    "LOW_ENERGY",
    "MAX_SIDE_PX",
    "DualEnergyScan",
    "display_image",
    "read_scan",
    "write_scan",
]

UInt16Array = npt.NDArray[np.uint16]
PlaneName = Literal["HIGH_ENERGY", "LOW_ENERGY"]

#: Frame Labels (0020,9453) naming the two planes.
HIGH_ENERGY: Final[PlaneName] = "HIGH_ENERGY"
LOW_ENERGY: Final[PlaneName] = "LOW_ENERGY"
#: Longest image side accepted: a 2 m belt at 1 mm per pixel with room to spare; beyond it
#: a file is more likely an attack on memory than a scan.
MAX_SIDE_PX: Final = 4096
#: Shortest side: the detector's anchors need a few dozen pixels to mean anything.
MIN_SIDE_PX: Final = 16
#: Transfer syntaxes with uncompressed pixels; compressed ones would need codecs at the edge.
_UNCOMPRESSED: Final = frozenset({ExplicitVRLittleEndian, ImplicitVRLittleEndian})
_BITS: Final = 16


@dataclass(frozen=True, kw_only=True)
class DualEnergyScan:
    """One view of an inspected object: both planes and the scanner's identifiers.

    ``high`` and ``low`` are (H, W) uint16 planes, linear in transmitted intensity with
    ``full_scale`` for air; pixel (0, 0) is the top-left corner, the same grid the
    pseudo-colour image and every detection box use.
    """

    high: UInt16Array
    low: UInt16Array
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str = DICOS_DX_FOR_PROCESSING
    device_serial_number: str | None = None
    acquired_at: datetime | None = None
    view: str = "top"
    full_scale: int = 2**_BITS - 1

    @property
    def width(self) -> int:
        return int(self.high.shape[1])

    @property
    def height(self) -> int:
        return int(self.high.shape[0])

    def reference(self) -> ScanReference:
        """The identifiers a ``ScanFrame`` carries and a report refers back to; the
        acquisition time cut to the milliseconds an event keeps."""
        acquired = self.acquired_at
        if acquired is not None:
            acquired = acquired.replace(microsecond=acquired.microsecond // 1000 * 1000)
        return ScanReference(
            study_instance_uid=self.study_instance_uid,
            series_instance_uid=self.series_instance_uid,
            sop_instance_uid=self.sop_instance_uid,
            sop_class_uid=self.sop_class_uid,
            device_serial_number=self.device_serial_number,
            acquired_at=acquired,
        )


def display_image(scan: DualEnergyScan) -> npt.NDArray[np.uint8]:
    """The (H, W, 3) uint8 pseudo-colour image guards see and the detector was trained on:
    the simulator's display with its shipped table, which needs no physics packages."""
    from detector.sim.display import pseudo_colour, shipped_display_lut

    scale = np.float32(1.0 / scan.full_scale)
    channels = np.stack([scan.low, scan.high]).astype(np.float32) * scale
    return pseudo_colour(channels, lut=shipped_display_lut())


def write_scan(scan: DualEnergyScan) -> bytes:
    """``scan`` as a DICOS DX Part 10 file (for processing, two frames: high then low)."""
    _check_planes(scan.high, scan.low)
    for name in ("study_instance_uid", "series_instance_uid", "sop_instance_uid"):
        if not is_uid(getattr(scan, name)):
            raise DicosError(f"{name} {getattr(scan, name)!r} is not a DICOM UID")
    ds = Dataset()
    ds.SOPClassUID = UID(scan.sop_class_uid)
    ds.SOPInstanceUID = UID(scan.sop_instance_uid)
    ds.StudyInstanceUID = UID(scan.study_instance_uid)
    ds.SeriesInstanceUID = UID(scan.series_instance_uid)
    ds.Modality = "DX"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.PresentationIntentType = "FOR PROCESSING"
    ds.OOIType = "BAGGAGE"
    ds.Manufacturer = "leakguard"
    ds.ManufacturerModelName = "dual-energy simulator"
    if scan.device_serial_number is not None:
        ds.DeviceSerialNumber = scan.device_serial_number
    if scan.acquired_at is not None:
        ds.AcquisitionDateTime = dicom_datetime(scan.acquired_at)
    ds.ViewName = scan.view
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = scan.height, scan.width
    ds.NumberOfFrames = 2
    ds.BitsAllocated = _BITS
    ds.BitsStored = _BITS
    ds.HighBit = _BITS - 1
    ds.PixelRepresentation = 0
    ds.PixelIntensityRelationship = "LIN"
    ds.PixelIntensityRelationshipSign = 1
    ds.PerFrameFunctionalGroupsSequence = [_frame_group(HIGH_ENERGY), _frame_group(LOW_ENERGY)]
    ds.PixelData = np.stack([scan.high, scan.low]).astype("<u2").tobytes()
    return dataset_bytes(ds, sop_class=UID(scan.sop_class_uid))


def _frame_group(label: PlaneName) -> Dataset:
    content = Dataset()
    content.FrameLabel = label
    group = Dataset()
    group.FrameContentSequence = [content]
    return group


def read_scan(data: bytes) -> DualEnergyScan:
    """The scan in ``data`` (a DICOS DX Part 10 file); :class:`DicosError` says why not."""
    try:
        ds = dcmread(BytesIO(data), force=False)
    except InvalidDicomError as exc:
        raise DicosError(f"not a DICOM file: {exc}") from exc
    except Exception as exc:  # pydicom raises many unrelated types on malformed input
        raise DicosError(f"malformed DICOM file: {exc}") from exc
    try:
        return _scan_of(ds)
    except DicosError:
        raise
    except Exception as exc:  # a malformed element surfaces only when it is accessed
        raise DicosError(f"malformed DICOS attribute: {exc}") from exc


def _scan_of(ds: Any) -> DualEnergyScan:
    sop_class = str(ds.get("SOPClassUID", ""))
    if sop_class != DICOS_DX_FOR_PROCESSING:
        raise DicosError(
            f"SOP class {sop_class or 'missing'} is not a DICOS Digital X-Ray image for "
            "processing (display-ready 'for presentation' images hold no energy planes)"
        )
    syntax = ds.file_meta.get("TransferSyntaxUID")
    if syntax not in _UNCOMPRESSED:
        raise DicosError(f"transfer syntax {syntax} is not uncompressed little endian")
    uids = {
        name: str(ds.get(name, ""))
        for name in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
    }
    for name, value in uids.items():
        if not is_uid(value):
            raise DicosError(f"{name} {value[:80]!r} is not a DICOM UID")
    rows, columns, bits_stored = _geometry(ds)
    labels = [_frame_label(group) for group in ds.get("PerFrameFunctionalGroupsSequence", [])]
    if sorted(labels) != [HIGH_ENERGY, LOW_ENERGY]:
        raise DicosError(
            f"frames are labelled {labels}, want one {HIGH_ENERGY} and one {LOW_ENERGY}"
        )
    pixels = ds.get("PixelData")
    expected = 2 * rows * columns * 2
    if not isinstance(pixels, bytes) or len(pixels) != expected:
        size = len(pixels) if isinstance(pixels, bytes) else 0
        raise DicosError(
            f"pixel data holds {size} bytes, {rows}x{columns}x2 frames need {expected}"
        )
    planes = np.frombuffer(pixels, dtype="<u2").reshape(2, rows, columns).astype(np.uint16)
    serial = ds.get("DeviceSerialNumber")
    view = str(ds.get("ViewName", "") or "top")
    return DualEnergyScan(
        high=planes[labels.index(HIGH_ENERGY)],
        low=planes[labels.index(LOW_ENERGY)],
        study_instance_uid=uids["StudyInstanceUID"],
        series_instance_uid=uids["SeriesInstanceUID"],
        sop_instance_uid=uids["SOPInstanceUID"],
        sop_class_uid=sop_class,
        device_serial_number=None if not serial else str(serial)[:64],
        acquired_at=parse_dicom_datetime(ds.get("AcquisitionDateTime")),
        view=view[:16],
        full_scale=2**bits_stored - 1,
    )


def _geometry(ds: Any) -> tuple[int, int, int]:
    """``(rows, columns, bits stored)``, checked against the limits and this reader's layout."""
    rows, columns = int(ds.get("Rows", 0)), int(ds.get("Columns", 0))
    if not (MIN_SIDE_PX <= rows <= MAX_SIDE_PX and MIN_SIDE_PX <= columns <= MAX_SIDE_PX):
        raise DicosError(
            f"image is {rows}x{columns}; each side must be {MIN_SIDE_PX}-{MAX_SIDE_PX}"
        )
    if int(ds.get("NumberOfFrames", 1)) != 2:
        raise DicosError("a dual-energy view needs exactly 2 frames (high and low energy)")
    layout = (
        int(ds.get("SamplesPerPixel", 0)),
        int(ds.get("BitsAllocated", 0)),
        int(ds.get("PixelRepresentation", -1)),
    )
    if layout != (1, _BITS, 0):
        raise DicosError(f"pixels must be 1 sample of 16-bit unsigned, got {layout}")
    bits_stored = int(ds.get("BitsStored", 0))
    if not 8 <= bits_stored <= _BITS:
        raise DicosError(f"BitsStored {bits_stored} is outside 8-16")
    if str(ds.get("PixelIntensityRelationship", "LIN")) != "LIN":
        raise DicosError("only planes linear in the transmitted intensity (LIN) are read")
    return rows, columns, bits_stored


def _frame_label(group: Any) -> str:
    content = group.get("FrameContentSequence") or [Dataset()]
    return str(content[0].get("FrameLabel", ""))


def _check_planes(high: UInt16Array, low: UInt16Array) -> None:
    if high.shape != low.shape or high.ndim != 2:
        raise DicosError(
            f"planes must be two (H, W) arrays of one shape, got {high.shape} {low.shape}"
        )
    if not all(MIN_SIDE_PX <= side <= MAX_SIDE_PX for side in high.shape):
        raise DicosError(f"image is {high.shape}; each side must be {MIN_SIDE_PX}-{MAX_SIDE_PX}")

"""DICOS objects without Kafka: scans written and read back, the detector's view of them,
threat detection reports, and every kind of bad file the bridge must move aside."""

from __future__ import annotations

import dataclasses
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from detector.sim.display import pseudo_colour
from detector.sim.scenes import get_preset
from detector.sim.simulate import simulate
from schemas import Codec, ScanFrame
from schemas.events import DetectedObject, Detection
from streams.dicos.bridge import frame_from_dicos, watch_dicos_folder
from streams.dicos.common import DICOS_DX_FOR_PROCESSING, read_capped
from streams.dicos.exceptions import DicosError
from streams.dicos.reports import report_path
from streams.dicos.scan import DualEnergyScan, display_image, read_scan, write_scan
from streams.dicos.simulated import simulated_scan, write_simulated_scans
from streams.dicos.tdr import read_tdr, report_of, write_tdr
from tests.streams.helpers import detection, obj, png

ACQUIRED = datetime(2026, 12, 6, 15, 0, 0, 123000, tzinfo=UTC)


def _scan(size: int = 32, **changes: object) -> DualEnergyScan:
    rng = np.random.default_rng(0)
    scan = DualEnergyScan(
        high=rng.integers(1000, 65535, (size, size + 8), dtype=np.uint16),
        low=rng.integers(500, 65535, (size, size + 8), dtype=np.uint16),
        study_instance_uid="1.2.826.0.1.3680043.10.1",
        series_instance_uid="1.2.826.0.1.3680043.10.1.2",
        sop_instance_uid="1.2.826.0.1.3680043.10.1.2.3",
        device_serial_number="SN-7",
        acquired_at=ACQUIRED,
        view="side",
    )
    return dataclasses.replace(scan, **changes)  # type: ignore[arg-type]


def test_a_scan_round_trips_with_its_planes_and_identifiers() -> None:
    scan = _scan()
    back = read_scan(write_scan(scan))
    assert np.array_equal(back.high, scan.high)
    assert np.array_equal(back.low, scan.low)
    assert back.reference() == scan.reference()
    assert back.reference().sop_class_uid == DICOS_DX_FOR_PROCESSING
    assert (back.view, back.width, back.height, back.full_scale) == ("side", 40, 32, 65535)


def test_the_detector_sees_the_simulators_pseudo_colour_view() -> None:
    """The bridge's image is the display module's rendering of the two planes: equal to
    pseudo_colour of the stored 16-bit planes, and to the simulator's own image but for the
    16-bit rounding."""
    scan = simulated_scan(get_preset("bag"), seed=3, index=1, size_px=96)
    rgb = display_image(read_scan(write_scan(scan)))
    planes = np.stack([scan.low, scan.high]).astype(np.float32) / np.float32(65535)
    assert np.array_equal(rgb, pseudo_colour(planes))
    original = simulate(get_preset("bag"), seed=3, index=1, width_px=96, height_px=96).rgb
    assert np.abs(rgb.astype(int) - original.astype(int)).mean() < 1.0


def test_the_view_needs_no_physics_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    """An edge installs neither xraydb nor spekpy: the bridge colours with the shipped table."""
    from detector.sim.display import display_lut
    from detector.sim.materials import physics_tables

    display_lut.cache_clear()
    physics_tables.cache_clear()
    monkeypatch.setitem(sys.modules, "xraydb", None)
    monkeypatch.setitem(sys.modules, "spekpy", None)
    assert display_image(_scan()).shape == (32, 40, 3)


def test_the_frame_of_a_scan_carries_its_identifiers_through_the_codec(tmp_path: Path) -> None:
    path = tmp_path / "a.dcm"
    path.write_bytes(write_scan(_scan()))
    frame = frame_from_dicos(path, checkpoint="cp", lane="2")
    decoded = Codec().decode(Codec().encode(frame), ScanFrame)
    assert decoded.scan == _scan().reference()
    assert decoded.frame_id == "cp/2/1.2.826.0.1.3680043.10.1.2.3"
    assert (decoded.scanner_id, decoded.view_id) == ("SN-7", "side")
    assert (decoded.image.width, decoded.image.height) == (40, 32)


def test_simulated_scans_are_deterministic_files(tmp_path: Path) -> None:
    written = list(
        write_simulated_scans(tmp_path, get_preset("alone"), count=2, seed=5, size_px=48)
    )
    again = simulated_scan(get_preset("alone"), seed=5, index=1, size_px=48)
    first = read_scan(written[1].read_bytes())
    assert [p.name for p in written] == ["scan-5-000000.dcm", "scan-5-000001.dcm"]
    assert first.sop_instance_uid == again.sop_instance_uid
    assert np.array_equal(first.high, again.high)
    assert first.device_serial_number == "leakguard-sim"
    assert first.acquired_at is not None
    assert not list(tmp_path.glob(".*"))  # no partial file left behind


def _edit(data: bytes, **attributes: object) -> bytes:
    """``data`` with DICOM attributes set (None deletes one)."""
    from io import BytesIO

    from pydicom import dcmread

    ds = dcmread(BytesIO(data))
    for name, value in attributes.items():
        if value is None:
            delattr(ds, name)
        else:
            setattr(ds, name, value)
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _bad_files() -> dict[str, tuple[bytes, str]]:
    good = write_scan(_scan())
    return {
        "png": (png(16, 16), "not a DICOM file"),
        "empty": (b"", "DICOM"),
        "truncated": (good[: len(good) // 2], "pixel data"),
        "report": (
            write_tdr(report_of(_detection(obj("o0", (1, 2, 3, 4))))),
            "not a DICOS Digital X-Ray image for processing",
        ),
        "one frame": (_edit(good, NumberOfFrames=1), "exactly 2 frames"),
        "unlabelled": (_edit(good, PerFrameFunctionalGroupsSequence=None), "labelled"),
        "huge claim": (_edit(good, Rows=60000), "each side"),
        "signed": (_edit(good, PixelRepresentation=1), "16-bit unsigned"),
        "log planes": (_edit(good, PixelIntensityRelationship="LOG"), "LIN"),
        "path in uid": (_edit(good, SOPInstanceUID="../../etc/passwd"), "not a DICOM UID"),
    }


BAD_FILES = (
    "png",
    "empty",
    "truncated",
    "report",
    "one frame",
    "unlabelled",
    "huge claim",
    "signed",
    "log planes",
    "path in uid",
)


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")  # the hostile UID, on purpose
@pytest.mark.parametrize("name", BAD_FILES)
def test_a_bad_file_is_refused_with_its_reason(name: str) -> None:
    data, reason = _bad_files()[name]
    with pytest.raises(DicosError, match=reason):
        read_scan(data)


def test_reading_refuses_links_fifos_folders_and_oversized_files(tmp_path: Path) -> None:
    big = tmp_path / "big.dcm"
    big.write_bytes(b"\0" * 2048)
    os.mkfifo(tmp_path / "pipe.dcm")  # opening it for reading would block without O_NONBLOCK
    (tmp_path / "zero.dcm").symlink_to("/dev/zero")
    (tmp_path / "dir.dcm").mkdir()
    with pytest.raises(DicosError, match="larger than the 1024 bytes"):
        read_capped(big, max_bytes=1024)
    with pytest.raises(DicosError, match="not a regular file"):
        read_capped(tmp_path / "pipe.dcm", max_bytes=1024)
    with pytest.raises(DicosError, match="symbolic link"):
        read_capped(tmp_path / "zero.dcm", max_bytes=1024)
    with pytest.raises(DicosError):
        read_capped(tmp_path / "dir.dcm", max_bytes=1024)


def test_the_folder_bridge_publishes_scans_and_moves_bad_files_aside(tmp_path: Path) -> None:
    folder = tmp_path / "scanner"
    folder.mkdir()
    (folder / "good.dcm").write_bytes(write_scan(_scan()))
    (folder / "picture.dcm").write_bytes(png(16, 16))
    (folder / "big.dcm").write_bytes(b"\0" * (len(write_scan(_scan())) + 1))
    os.mkfifo(folder / "pipe.dcm")
    (folder / "zero.dcm").symlink_to("/dev/zero")
    (folder / "notes.txt").write_text("the scanner's own file")
    published: list[ScanFrame] = []
    report = watch_dicos_folder(
        folder,
        checkpoint="cp",
        lane="1",
        publish=published.append,
        max_file_bytes=len(write_scan(_scan())),
        should_stop=lambda: True,
        clock=lambda: 4e9,  # every file has settled
    )
    assert (report.published, report.rejected) == (1, 4)
    assert published[0].scan == _scan().reference()
    assert [p.name for p in (folder / "done").iterdir()] == ["good.dcm"]
    reasons = {
        p.name.removesuffix(".reason.txt"): p.read_text()
        for p in (folder / "rejected").glob("*.reason.txt")
    }
    assert set(reasons) == {"picture.dcm", "big.dcm", "pipe.dcm", "zero.dcm"}
    assert reasons["picture.dcm"].startswith("picture.dcm: not a DICOM file")
    assert "larger than" in reasons["big.dcm"]
    assert (folder / "notes.txt").exists()


def _detection(*objects: DetectedObject, scan: DualEnergyScan | None = None) -> Detection:
    return dataclasses.replace(
        detection(*objects),
        scan=(scan or _scan()).reference(),
    )


def test_a_report_names_the_scan_and_its_alarms() -> None:
    event = _detection(
        obj("o0", (10, 12, 30, 40), class_name="usb_pen", score=0.75),
        obj("o1", (1, 1, 5, 5), class_name="laptop", alarmed=False),
    )
    report = read_tdr(write_tdr(report_of(event)))
    scan = _scan()
    assert report.study_instance_uid == scan.study_instance_uid
    assert report.referenced_series_instance_uid == scan.series_instance_uid
    assert report.referenced_sop_instance_uid == scan.sop_instance_uid
    assert report.referenced_sop_class_uid == DICOS_DX_FOR_PROCESSING
    assert report.alarm
    assert report.model_version == "m1"
    assert report.decided_at == event.event_time
    assert len(report.threats) == 1  # the object under the threshold is no threat
    threat = report.threats[0]
    assert threat.class_name == "usb_pen"
    assert threat.box == (10, 12, 30, 40)
    assert threat.score == pytest.approx(0.75)
    assert report.sop_instance_uid == report_of(event).sop_instance_uid  # a replay: same UID


def test_a_clear_scan_gets_a_clear_report_and_a_frame_without_scan_none() -> None:
    report = read_tdr(write_tdr(report_of(_detection(obj("o0", (1, 1, 5, 5), alarmed=False)))))
    assert not report.alarm
    assert report.threats == ()
    assert report.referenced_sop_instance_uid == _scan().sop_instance_uid
    with pytest.raises(DicosError, match="names no DICOS scan"):
        report_of(detection())


def test_a_report_file_name_is_never_a_path(tmp_path: Path) -> None:
    assert report_path(tmp_path, "1.2.3").name == "1.2.3.tdr.dcm"
    with pytest.raises(DicosError, match="not a DICOM UID"):
        report_path(tmp_path, "../../1.2.3")

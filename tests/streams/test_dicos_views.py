"""The views of one DICOS scan grouped into one frame (#20), without Kafka: a whole scan,
a scan missing a view, interleaved scans, an unreadable view and a restart holding a view
(each run one pass of the folder loop at a fixed clock, files dated relative to it); and
the report of a dual-view detection, boxed in the view it references."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import numpy as np
import pytest

from detector.sim.scenes import get_preset
from schemas.events import DetectedObject, ScanFrame
from streams.dicos.bridge import watch_dicos_folder
from streams.dicos.grouping import MAX_VIEWS_PER_SCAN, ScanViews
from streams.dicos.scan import DualEnergyScan, read_scan, write_scan
from streams.dicos.simulated import simulated_scan, write_simulated_scans
from streams.dicos.tdr import report_of
from streams.exceptions import StreamsConfigError
from streams.sources import WatchReport
from tests.streams.helpers import detection, obj

NOW = 2e9
TIMEOUT_S = 10.0
ROOT = "1.2.826.0.1.3680043.10"


def _uid(scan: str, view: str = "") -> str:
    """A UID per scan (``A`` -> ``...65``) and per view of it."""
    base = f"{ROOT}.{ord(scan)}"
    return f"{base}.{ord(view[0])}" if view else base


def _scan(scan: str, view: str, *, level: int = 1000) -> DualEnergyScan:
    """View ``view`` of scan ``scan``: flat planes at ``level``."""
    plane = np.full((32, 40), level, dtype=np.uint16)
    return DualEnergyScan(
        high=plane,
        low=plane,
        study_instance_uid=_uid(scan),
        series_instance_uid=f"{_uid(scan)}.1",
        sop_instance_uid=_uid(scan, view),
        view=view,
    )


def _write_view(folder: Path, scan: str, view: str, *, age_s: float, level: int = 1000) -> Path:
    """View ``view`` of scan ``scan`` as a DICOS file written ``age_s`` before :data:`NOW`."""
    path = folder / f"{scan}-{view}.dcm"
    path.write_bytes(write_scan(_scan(scan, view, level=level)))
    os.utime(path, (NOW - age_s, NOW - age_s))
    return path


def _watch(folder: Path, published: list[ScanFrame], *, views_per_scan: int = 2) -> WatchReport:
    return watch_dicos_folder(
        folder,
        checkpoint="cp",
        lane="1",
        publish=published.append,
        views_per_scan=views_per_scan,
        scan_timeout_s=TIMEOUT_S,
        should_stop=lambda: True,
        clock=lambda: NOW,
    )


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file())


def test_a_whole_scan_is_one_frame_led_by_its_top_view(tmp_path: Path) -> None:
    _write_view(tmp_path, "A", "side", age_s=3, level=900)  # the side view arrives first
    _write_view(tmp_path, "A", "top", age_s=2)
    published: list[ScanFrame] = []
    report = _watch(tmp_path, published)
    assert (report.published, report.rejected, report.held) == (1, 0, 0)
    (frame,) = published
    assert frame.frame_id == f"cp/1/{_uid('A', 'top')}"
    assert frame.view_id == "top"
    assert frame.scan is not None
    assert frame.scan.sop_instance_uid == _uid("A", "top")
    assert [view.view_id for view in frame.views] == ["side"]
    assert frame.views[0].image != frame.image
    assert _names(tmp_path / "done") == ["A-side.dcm", "A-top.dcm"]
    assert _names(tmp_path) == []


def test_one_view_per_scan_publishes_every_file_as_before(tmp_path: Path) -> None:
    _write_view(tmp_path, "A", "top", age_s=2)
    _write_view(tmp_path, "A", "side", age_s=1)
    published: list[ScanFrame] = []
    report = _watch(tmp_path, published, views_per_scan=1)
    assert report.published == 2
    assert [(f.view_id, f.views) for f in published] == [("top", ()), ("side", ())]


def test_a_scan_missing_a_view_waits_then_goes_out_with_what_it_has(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _write_view(tmp_path, "A", "top", age_s=TIMEOUT_S - 1)
    _write_view(tmp_path, "B", "side", age_s=TIMEOUT_S + 1)  # no top view will come
    published: list[ScanFrame] = []
    with caplog.at_level(logging.WARNING, logger="streams.dicos.grouping"):
        report = _watch(tmp_path, published)
    assert (report.published, report.held) == (1, 1)
    (frame,) = published
    assert (frame.view_id, frame.views) == ("side", ())  # the first arrived leads
    assert frame.frame_id == f"cp/1/{_uid('B', 'side')}"
    assert "has 1 of 2 views after 10.0 s" in caplog.text
    assert _names(tmp_path / "done") == ["B-side.dcm"]
    assert _names(tmp_path) == ["A-top.dcm"]  # still waiting, still in the folder


def test_interleaved_scans_are_grouped_by_series(tmp_path: Path) -> None:
    for age_s, (scan, view) in zip(
        (4, 3, 2, 1), (("A", "top"), ("B", "top"), ("A", "side"), ("B", "side")), strict=True
    ):
        _write_view(tmp_path, scan, view, age_s=age_s)
    published: list[ScanFrame] = []
    report = _watch(tmp_path, published)
    assert report.published == 2
    for frame, scan in zip(published, "AB", strict=True):
        assert frame.scan is not None
        assert frame.scan.series_instance_uid == f"{_uid(scan)}.1"
        assert frame.frame_id == f"cp/1/{_uid(scan, 'top')}"
        assert [view.view_id for view in frame.views] == ["side"]


def test_an_unreadable_view_is_rejected_and_its_scan_goes_out_without_it(
    tmp_path: Path,
) -> None:
    _write_view(tmp_path, "A", "top", age_s=TIMEOUT_S + 1)
    broken = tmp_path / "A-side.dcm"
    broken.write_bytes(b"DICM but not really")
    os.utime(broken, (NOW - TIMEOUT_S, NOW - TIMEOUT_S))
    published: list[ScanFrame] = []
    report = _watch(tmp_path, published)
    assert (report.published, report.rejected, report.held) == (1, 1, 0)
    assert published[0].views == ()
    assert (tmp_path / "rejected" / "A-side.dcm.reason.txt").read_text().startswith("A-side.dcm: ")
    assert _names(tmp_path / "done") == ["A-top.dcm"]


def test_a_view_held_at_a_crash_is_read_again_and_grouped_on_restart(tmp_path: Path) -> None:
    _write_view(tmp_path, "A", "top", age_s=3)
    first: list[ScanFrame] = []
    report = _watch(tmp_path, first)  # the bridge stops (or dies) holding the top view
    assert (report.published, report.held) == (0, 1)
    assert _names(tmp_path) == ["A-top.dcm"]
    _write_view(tmp_path, "A", "side", age_s=1)
    again: list[ScanFrame] = []
    report = _watch(tmp_path, again)  # a new process: nothing but the folder is kept
    assert (report.published, report.held) == (1, 0)
    assert again[0].view_id == "top"
    assert [view.view_id for view in again[0].views] == ["side"]
    assert _names(tmp_path / "done") == ["A-side.dcm", "A-top.dcm"]


def test_a_view_name_seen_twice_closes_the_scan_before_it(tmp_path: Path) -> None:
    _write_view(tmp_path, "A", "top", age_s=3).rename(tmp_path / "A-top-first.dcm")
    _write_view(tmp_path, "A", "top", age_s=2)  # a rescan, same series and view name
    published: list[ScanFrame] = []
    report = _watch(tmp_path, published)
    assert (report.published, report.held) == (1, 1)
    assert published[0].views == ()
    assert _names(tmp_path / "done") == ["A-top-first.dcm"]
    assert _names(tmp_path) == ["A-top.dcm"]


def test_simulated_dual_view_scans_are_one_file_per_view_and_one_frame_each(
    tmp_path: Path,
) -> None:
    written = list(
        write_simulated_scans(
            tmp_path, get_preset("alone"), count=2, seed=5, size_px=48, views=("top", "side")
        )
    )
    assert [p.name for p in written] == [
        "scan-5-000000.dcm",
        "scan-5-000000-side.dcm",
        "scan-5-000001.dcm",
        "scan-5-000001-side.dcm",
    ]
    top, side = (read_scan(p.read_bytes()) for p in written[:2])
    assert (top.view, side.view) == ("top", "side")
    assert (side.study_instance_uid, side.series_instance_uid) == (
        top.study_instance_uid,
        top.series_instance_uid,
    )
    assert side.sop_instance_uid != top.sop_instance_uid
    single = simulated_scan(get_preset("alone"), seed=5, index=0, size_px=48)
    assert top.sop_instance_uid == single.sop_instance_uid  # the top view is the scan as before
    assert not np.array_equal(side.high, top.high)
    for path in written:
        os.utime(path, (NOW - 1, NOW - 1))
    published: list[ScanFrame] = []
    assert _watch(tmp_path, published).published == 2
    assert [[v.view_id for v in frame.views] for frame in published] == [["side"], ["side"]]


@pytest.mark.parametrize(
    ("views_per_scan", "timeout_s"), [(0, 1.0), (MAX_VIEWS_PER_SCAN + 1, 1.0), (2, 0.0)]
)
def test_a_bad_grouping_option_fails_at_start(views_per_scan: int, timeout_s: float) -> None:
    with pytest.raises(StreamsConfigError):
        ScanViews(views_per_scan=views_per_scan, scan_timeout_s=timeout_s)


def _seen(
    object_id: str,
    item_id: str,
    box: tuple[float, float, float, float],
    *,
    view_id: str | None = None,
    alarmed: bool = True,
    class_name: str = "phone",
    score: float = 0.9,
) -> DetectedObject:
    seen = obj(object_id, box, alarmed=alarmed, class_name=class_name, score=score)
    return dataclasses.replace(seen, item_id=item_id, view_id=view_id)


def test_a_dual_view_report_boxes_each_alarmed_item_in_the_primary_view() -> None:
    event = dataclasses.replace(
        detection(
            _seen("t0", "t0", (10, 20, 30, 40), score=0.8),
            _seen("s0", "t0", (11, 5, 31, 9), view_id="side"),  # the same item from the side
            _seen("t1", "t1", (50, 20, 70, 40), alarmed=False, class_name="tablet", score=0.2),
            _seen("s1", "t1", (50, 5, 69, 9), view_id="side", class_name="laptop", score=0.6),
            _seen("s2", "s2", (90, 5, 99, 9), view_id="side"),  # no box in the top view
        ),
        scan=_scan("A", "top").reference(),
    )
    report = report_of(event)
    assert report.alarm
    assert [(t.class_name, t.score, t.box) for t in report.threats] == [
        ("phone", pytest.approx(0.8), (10, 20, 30, 40)),
        ("laptop", pytest.approx(0.6), (50, 20, 70, 40)),
    ]

"""DICOS end to end on the real broker: simulated scans written as DICOS files into a
scanner's folder, ``leakguard scanner dicos watch`` publishing them, a real edge worker
with the tiny model detecting, and ``leakguard scanner dicos reports`` writing one Threat
Detection Report per scan into the outbox, naming that scan. A dual-view scanner's two
files of a scan are one frame with two views, one detection and one report (#20)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from detector.sim.scenes import get_preset
from detector.sim.stream import ViewName
from schemas import Detection, ScanFrame
from streams.dicos.scan import read_scan
from streams.dicos.simulated import write_simulated_scans
from streams.dicos.tdr import ALGORITHM, read_tdr
from tests.kafka_kit import StreamTopics, decoded, read_topic
from tests.streams.conftest import LEAKGUARD, Workers

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCANS = 2
#: Longest wait for the reports: the edge's start-up (torch import) and the report
#: writer's group join dominate on a loaded 2-core machine.
REPORTS_TIMEOUT_S = 120.0
#: How often the outbox is looked at while waiting.
OUTBOX_POLL_S = 0.2


def _leakguard(topics: StreamTopics, *args: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LEAKGUARD_KAFKA__BOOTSTRAP_SERVERS": topics.bootstrap}
    return subprocess.Popen(
        [LEAKGUARD, "scanner", "dicos", *args, "--topic-prefix", topics.prefix],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )


@pytest.mark.parametrize("views", [("top",), ("top", "side")], ids=["single-view", "dual-view"])
def test_a_dicos_scan_in_gives_a_detection_and_a_report_out_naming_it(
    views: tuple[ViewName, ...],
    stream_topics: StreamTopics,
    workers: Workers,
    tiny_artifact: Path,
    tmp_path: Path,
) -> None:
    folder, outbox, logs = tmp_path / "scanner", tmp_path / "outbox", tmp_path / "logs"
    logs.mkdir()
    written = list(
        write_simulated_scans(folder, get_preset("bag"), count=SCANS, size_px=96, views=views)
    )
    (folder / "broken.dcm").write_bytes(b"DICM but not really")
    primaries = (read_scan(p.read_bytes()) for p in written)
    scans = {scan.sop_instance_uid: scan for scan in primaries if scan.view == "top"}
    workers.start("edge", "--model", str(tiny_artifact), "--frame-store", str(tmp_path / "fs"))
    reports = _leakguard(
        stream_topics,
        "reports",
        str(outbox),
        "--checkpoint",
        "cp",
        "--group",
        f"{stream_topics.prefix}dicos-reports",
        log=logs / "reports.log",
    )
    try:
        watch = _leakguard(
            stream_topics,
            "watch",
            str(folder),
            "--checkpoint",
            "cp",
            "--lane",
            "2",
            "--once",
            "--views-per-scan",
            str(len(views)),
            log=logs / "watch.log",
        )
        assert watch.wait(timeout=120) == 0, (logs / "watch.log").read_text()
        assert "published 2 scans, rejected 1" in (logs / "watch.log").read_text()
        assert (folder / "rejected" / "broken.dcm.reason.txt").exists()

        deadline = time.monotonic() + REPORTS_TIMEOUT_S
        while len(list(outbox.glob("*.tdr.dcm"))) < SCANS and time.monotonic() < deadline:
            workers.check_alive()
            assert reports.poll() is None, (logs / "reports.log").read_text()
            time.sleep(OUTBOX_POLL_S)
    finally:
        reports.send_signal(signal.SIGTERM)
        assert reports.wait(timeout=60) == 0, (logs / "reports.log").read_text()

    frames = decoded(
        read_topic(
            stream_topics.bootstrap,
            stream_topics.names.frames,
            until=lambda got: len(got) >= SCANS,
            timeout_s=30,
        ),
        ScanFrame,
    )
    assert {f.scan.sop_instance_uid for f in frames if f.scan} == set(scans)
    for frame in frames:
        assert frame.scan is not None
        assert frame.scan == scans[frame.scan.sop_instance_uid].reference()
        assert frame.frame_id == f"cp/2/{frame.scan.sop_instance_uid}"
        assert tuple(view.view_id for view in frame.views) == views[1:]
    detections = decoded(
        read_topic(
            stream_topics.bootstrap,
            stream_topics.names.detections,
            until=lambda got: len(got) >= SCANS,
            timeout_s=30,
        ),
        Detection,
    )
    assert {d.scan for d in detections} == {f.scan for f in frames}, workers.logs()
    assert all(len(d.views) == len(views) - 1 for d in detections)

    files = sorted(outbox.glob("*.tdr.dcm"))
    assert [p.name for p in files] == sorted(f"{uid}.tdr.dcm" for uid in scans), workers.logs()
    for path in files:
        report = read_tdr(path.read_bytes())
        scan = scans[report.referenced_sop_instance_uid]
        assert report.study_instance_uid == scan.study_instance_uid
        assert report.referenced_series_instance_uid == scan.series_instance_uid
        assert report.referenced_sop_class_uid == scan.sop_class_uid
        assert report.model_version == "tiny-test"
        assert report.alarm
        assert report.threats
        assert all(0 <= t.score <= 1 for t in report.threats)
        assert all(0 <= t.box[0] < t.box[2] <= scan.width for t in report.threats)
    assert ALGORITHM == "leakguard RetinaNet"

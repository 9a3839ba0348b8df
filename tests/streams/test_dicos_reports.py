"""The report writer on the real broker: of a batch of detections, only the tagged one of a
DICOS scan of its checkpoint becomes a report; a forged one and one whose scan UID would
be a path are dead-lettered; other checkpoints' and plain frames' detections are skipped;
the batch is committed after the file is in the outbox."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest

from schemas import Codec, DeadLetter, ScanReference
from schemas.authenticity import EventKeyring, add_keys
from streams.dicos.reports import ReportWriter
from streams.dicos.tdr import read_tdr
from tests.kafka_kit import (
    StreamTopics,
    decoded,
    ends_of,
    group_consumer,
    read_topic,
    wait_committed,
)
from tests.streams.helpers import detection, obj

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCAN = ScanReference(
    study_instance_uid="1.2.3",
    series_instance_uid="1.2.3.4",
    sop_instance_uid="1.2.3.4.5",
    sop_class_uid="1.2.840.10008.5.1.4.1.1.501.2.2",
)


def test_only_genuine_detections_of_this_checkpoints_scans_are_reported(
    stream_topics: StreamTopics, tmp_path: Path
) -> None:
    keys = tmp_path / "keys.json"
    add_keys(keys, ["edge:cp", "edge:other"])
    keyring = EventKeyring.load(keys)
    names, codec = stream_topics.names, Codec()
    genuine = dataclasses.replace(detection(obj("o0", (1, 2, 30, 40))), scan=SCAN)
    hostile = dataclasses.replace(
        genuine, scan=dataclasses.replace(SCAN, sop_instance_uid="../../x")
    )
    sent = [
        (genuine, "edge:cp"),
        (dataclasses.replace(genuine, frame_id="forged"), None),
        (hostile, "edge:cp"),
        (dataclasses.replace(genuine, checkpoint="other"), "edge:other"),
        (detection(), "edge:cp"),  # a PNG bridge's frame: no scan
    ]
    out = stream_topics.producer()
    for event, principal in sent:
        value = codec.encode(event)
        headers = None if principal is None else keyring.headers(principal, value)
        out.produce(names.detections, value=value, key=event.frame_id.encode(), headers=headers)
    out.flush(30)
    ends = ends_of(
        read_topic(
            stream_topics.bootstrap,
            names.detections,
            until=lambda got: len(got) >= len(sent),
            timeout_s=30,
        )
    )

    outbox = tmp_path / "outbox"
    outbox.mkdir()
    group = f"{stream_topics.prefix}reports"
    writer = ReportWriter(
        consumer=group_consumer(stream_topics.bootstrap, group),
        producer=stream_topics.producer(),  # closed with the test's topics
        topic=names.detections,
        dead_letter_topic=names.dead_letters,
        outbox=outbox,
        checkpoint="cp",
        keyring=keyring,
    )
    stop = threading.Event()
    thread = threading.Thread(target=writer.run, args=(stop,))
    thread.start()
    try:
        wait_committed(stream_topics.bootstrap, group, ends, timeout_s=60)
    finally:
        stop.set()
        thread.join(timeout=30)

    assert [p.name for p in outbox.iterdir()] == ["1.2.3.4.5.tdr.dcm"]
    report = read_tdr((outbox / "1.2.3.4.5.tdr.dcm").read_bytes())
    assert report.referenced_sop_instance_uid == SCAN.sop_instance_uid
    assert writer.written == 1
    letters = decoded(
        read_topic(
            stream_topics.bootstrap,
            names.dead_letters,
            until=lambda got: len(got) >= 2,
            timeout_s=30,
        ),
        DeadLetter,
    )
    reasons = [letter.reason for letter in letters]
    assert len(reasons) == 2
    assert any("carries no producer tag" in reason for reason in reasons)
    assert any("not a DICOM UID" in reason for reason in reasons)

"""The console's API on a threat image projection frame (#20): the queue never carries the
projection; the answer to the verdict says it was a test and whether the guard found it."""

from __future__ import annotations

import dataclasses
import json
import uuid

from schemas.events import Box, TipProjection
from tests.streams.console.conftest import Console, sign_in
from tests.streams.console.helpers import png, two_alarms

TIP = TipProjection(
    projection_id=uuid.uuid4(), class_name="sdcard", subtype="sdcard",
    box=Box(x1=70, y1=80, x2=90, y2=100),
)  # fmt: skip


def _tip_alarm(console: Console, frame_id: str) -> int:
    detection = dataclasses.replace(two_alarms(frame_id), tip=TIP)
    console.services.queue.add_detection(detection, image=png())
    return next(i.id for i in console.services.queue.pending(["1"]) if i.frame_id == frame_id)


def test_the_queue_hides_the_projection_and_the_answer_reveals_it(console: Console) -> None:
    found_id = _tip_alarm(console, "t1")
    missed_id = _tip_alarm(console, "t2")
    csrf = sign_in(console.client)
    queue = console.client.get("/api/queue").text
    assert str(TIP.projection_id) not in queue
    assert "tip" not in {key for item in json.loads(queue)["pending"] for key in item}
    headers = {"X-CSRF-Token": csrf}
    found = console.client.post(
        f"/api/frames/{found_id}/verdict",
        json={"missed_items": [{"class_name": "usb", "box": [68, 78, 92, 104]}]},
        headers=headers,
    ).json()
    assert found["tip"] == {"class_name": "sdcard", "box": [70, 80, 90, 100], "found": True}
    missed = console.client.post(
        f"/api/frames/{missed_id}/verdict", json={"rejected_object_ids": ["o1", "o2"]},
        headers=headers,
    ).json()  # fmt: skip
    assert missed["decision"] == "cleared"
    assert missed["tip"]["found"] is False


def test_a_real_frame_answer_says_nothing_of_tip(console: Console) -> None:
    console.services.queue.add_detection(two_alarms("r1"), image=png())
    item_id = console.services.queue.pending(["1"])[0].id
    csrf = sign_in(console.client)
    answer = console.client.post(
        f"/api/frames/{item_id}/verdict", json={}, headers={"X-CSRF-Token": csrf}
    )
    assert answer.json()["tip"] is None

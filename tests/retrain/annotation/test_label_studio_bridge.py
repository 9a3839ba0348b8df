"""Acceptance against a real Label Studio and the real broker.

3 tasks in => 3 Label Studio tasks with their images and pre-annotations; an annotation
submitted through Label Studio's API => exactly one ``Annotation`` event; the same webhook
delivered twice => still one; an update => one more; Label Studio unreachable for a while
=> the tasks wait and are created once it is back, none lost or doubled, offsets committed
only then; polling picks up an annotation no webhook announced; a task's image URL is
signed, and one that is unsigned (or nearly expired) is re-signed in Label Studio.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from infra.label_studio import USERNAME, LocalLabelStudio
from retrain.annotation.auto_label import AutoLabelPolicy
from retrain.annotation.bridge import WEBHOOK_SOURCE, AnnotationBridge
from retrain.annotation.client import LabelStudioClient
from retrain.annotation.exceptions import LabelStudioAuthError
from retrain.annotation.image_urls import (
    EXPIRES_PARAM,
    TOKEN_PARAM,
    ImageUrlSigner,
    refresh_image_urls,
)
from retrain.annotation.label_config import IMAGE_NAME
from retrain.annotation.ls_format import TASK_KEY, boxes_from_result, task_payload
from retrain.annotation.project import ensure_project
from retrain.annotation.receiver import SECRET_HEADER
from retrain.annotation.state import CreatedTask
from schemas.events import Annotation, AnnotationTask, DeadLetter, ImageLink
from tests.kafka_kit import TopicReader, committed
from tests.retrain.annotation.annotation_helpers import (
    CODEC,
    Relay,
    fn_task,
    fp_task,
    kept_image,
    running,
    send_tasks,
)
from tests.retrain.annotation.conftest import WEBHOOK_SECRET, BridgeRig

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NO_AUTO_LABEL = AutoLabelPolicy.of([])


def _wait(condition: Callable[[], Any], *, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def _project_tasks(server: LocalLabelStudio, project_id: int) -> list[dict[str, Any]]:
    answer = server.api(
        "GET", "/api/tasks/", params={"project": project_id, "fields": "all", "page_size": 100}
    )
    tasks: list[dict[str, Any]] = answer["tasks"]
    return tasks


def _submit(
    server: LocalLabelStudio, ls_task_id: int, result: list[dict[str, Any]]
) -> dict[str, Any]:
    answer: dict[str, Any] = server.api(
        "POST", f"/api/tasks/{ls_task_id}/annotations/", json={"result": result, "lead_time": 4.2}
    )
    return answer


def _rect(region: str, label: str, x: float, y: float, w: float, h: float) -> dict[str, Any]:
    return {
        "id": region,
        "from_name": "label",
        "to_name": "image",
        "type": "rectanglelabels",
        "original_width": 160,
        "original_height": 120,
        "value": {
            "x": x,
            "y": y,
            "width": w,
            "height": h,
            "rotation": 0,
            "rectanglelabels": [label],
        },
    }


def test_tasks_annotations_webhooks_and_dead_letters(
    rig: BridgeRig, ls_client: LabelStudioClient, label_studio: LocalLabelStudio
) -> None:
    store = rig.tmp_path / "frames"
    images = [kept_image(store, frame_id=f"f{i}", seed=i) for i in range(3)]
    tasks = [
        fp_task(images[0][0], frame_id="f0"),
        fn_task(images[1][0], frame_id="f1"),
        fp_task(images[2][0], frame_id="f2"),
    ]
    missing = fn_task(ImageLink(uri=str(store / "nothing.png"), sha256="1" * 64), frame_id="gone")
    values = [CODEC.encode(task) for task in (*tasks, missing)]
    send_tasks(rig.bootstrap, rig.topics, values)
    bridge = rig.bridge(policy=NO_AUTO_LABEL, client=ls_client)
    assert rig.project_id is not None
    annotations = TopicReader(rig.bootstrap, rig.topics.annotations)
    letters = TopicReader(rig.bootstrap, rig.topics.dead_letters)
    with running(bridge, threading.Event()):
        created = _wait(
            lambda: len(ls := _project_tasks(label_studio, rig.project_id)) >= 3 and ls,
            timeout_s=120,
            what="3 Label Studio tasks",
        )
        [letter] = letters.events(DeadLetter, at_least=1, timeout_s=60)
        assert letter.original == values[3]
        assert "cannot read" in letter.reason

        # 3 tasks in => 3 Label Studio tasks, each with its image and pre-annotations.
        assert len(created) == 3
        by_task = {t["data"][TASK_KEY]: t for t in created}
        assert set(by_task) == {str(t.task_id) for t in tasks}
        for task, (link, data) in zip(tasks, images, strict=True):
            ls_task = by_task[str(task.task_id)]
            image = httpx.get(ls_task["data"]["image"], timeout=30)
            assert image.status_code == 200
            unsigned = ls_task["data"]["image"].split("?")[0]
            assert httpx.get(unsigned, timeout=30).status_code == 403
            assert hashlib.sha256(image.content).hexdigest() == link.sha256
            assert image.content == data
            [prediction] = ls_task["predictions"]
            suggested = boxes_from_result(prediction["result"], width=1, height=1)
            assert [(b.class_name, b.subtype) for b in suggested] == [
                (p.class_name, p.subtype) for p in task.pre_annotations
            ]
            for got, pre in zip(suggested, task.pre_annotations, strict=True):
                assert (got.box.x1, got.box.y1, got.box.x2, got.box.y2) == pytest.approx(
                    (pre.box.x1, pre.box.y1, pre.box.x2, pre.box.y2)
                )

        # An annotation submitted through the API => exactly one Annotation event.
        target = by_task[str(tasks[0].task_id)]
        result = [
            _rect("a", "hdd", 10, 10, 25, 50),
            _rect("b", "others", 50, 25, 25, 50),
            {
                "id": "b",
                "from_name": "subtype",
                "to_name": "image",
                "type": "choices",
                "value": {
                    "x": 50,
                    "y": 25,
                    "width": 25,
                    "height": 50,
                    "rotation": 0,
                    "choices": ["aux_battery"],
                },
            },
        ]
        submitted = _submit(label_studio, int(target["id"]), result)
        [event] = annotations.events(Annotation, at_least=1, timeout_s=60, settle_s=2)
        assert event.task_id == tasks[0].task_id
        assert event.source == "label_studio"
        assert event.annotator == USERNAME
        assert event.image == tasks[0].image
        assert [(o.class_name, o.subtype) for o in event.objects] == [
            ("hdd", None),
            ("others", "aux_battery"),
        ]
        hdd = event.objects[0].box
        assert (hdd.x1, hdd.y1, hdd.x2, hdd.y2) == pytest.approx((16, 12, 56, 72))
        assert event.provenance["label_studio_task"] == str(target["id"])
        assert event.provenance["label_studio_annotation"] == str(submitted["id"])
        assert event.provenance["task_reason"] == "fp"

        # The same webhook delivered twice => still one event.
        payload = {
            "action": "ANNOTATION_CREATED",
            "annotation": label_studio.api("GET", f"/api/annotations/{submitted['id']}/"),
            "task": ls_client.task(int(target["id"])),
            "project": {"id": rig.project_id},
        }
        for _ in range(2):
            answer = httpx.post(
                f"{rig.receiver_url}/webhook",
                content=json.dumps(payload),
                headers={SECRET_HEADER: WEBHOOK_SECRET},
            )
            assert answer.status_code == 200
        _wait(lambda: rig.state.counts().inbox == 0, timeout_s=30, what="the webhooks handled")
        assert len(annotations.read(at_least=1, timeout_s=1, settle_s=3)) == 1

        # Well-formed JSON of the wrong shape (an id that is no number): that row's dead
        # letter, with its body; the bridge goes on.
        hostile = json.dumps({**payload, "annotation": {**payload["annotation"], "id": "x"}})
        answer = httpx.post(
            f"{rig.receiver_url}/webhook",
            content=hostile,
            headers={SECRET_HEADER: WEBHOOK_SECRET},
        )
        assert answer.status_code == 200
        webhook_letters = [
            d
            for d in letters.events(DeadLetter, at_least=2, timeout_s=60)
            if d.source_topic == WEBHOOK_SOURCE
        ]
        assert [d.original for d in webhook_letters] == [hostile.encode()]
        assert "invalid literal for int" in webhook_letters[0].reason

        # An update is a new version => one more event, with a new annotation id.
        label_studio.api(
            "PATCH",
            f"/api/annotations/{submitted['id']}/",
            json={"result": [_rect("a", "ssd", 10, 10, 25, 50)]},
        )
        events = annotations.events(Annotation, at_least=2, timeout_s=60, settle_s=2)
        assert len(events) == 2
        assert events[1].annotation_id != event.annotation_id
        assert [o.class_name for o in events[1].objects] == ["ssd"]


def test_label_studio_down_then_back_creates_every_task_once(
    rig: BridgeRig, ls_client: LabelStudioClient, label_studio: LocalLabelStudio
) -> None:
    relay = Relay(label_studio.port)  # nothing listens there yet: Label Studio is "down"
    far = LabelStudioClient(url=relay.url, token=label_studio.token)
    store = rig.tmp_path / "frames"
    tasks = [
        fn_task(kept_image(store, frame_id=f"d{i}", seed=10 + i)[0], frame_id=f"d{i}")
        for i in range(3)
    ]
    send_tasks(rig.bootstrap, rig.topics, [CODEC.encode(task) for task in tasks])
    bridge = rig.bridge(policy=NO_AUTO_LABEL, client=far)
    assert rig.project_id is not None
    try:
        with running(bridge, threading.Event()):
            _wait(lambda: bridge.waiting == 3, timeout_s=90, what="the tasks to be held")
            time.sleep(3)  # several retries against the dead address
            assert bridge.waiting == 3
            assert _project_tasks(label_studio, rig.project_id) == []
            assert _committed(rig) == 0
            relay.up()
            _wait(lambda: bridge.waiting == 0, timeout_s=90, what="the held tasks created")
            created = _project_tasks(label_studio, rig.project_id)
            assert sorted(t["data"][TASK_KEY] for t in created) == sorted(
                str(t.task_id) for t in tasks
            )
            _wait(lambda: _committed(rig) == 3, timeout_s=30, what="offsets committed")
    finally:
        relay.down()
        far.close()


def test_an_unsigned_image_url_is_renewed_in_label_studio(
    rig: BridgeRig, ls_client: LabelStudioClient
) -> None:
    link, data = kept_image(rig.tmp_path / "frames", frame_id="u0", seed=50)
    task = fn_task(link, frame_id="u0")
    assert rig.project_id is not None
    # A task as the bridge created them before image URLs were signed.
    old = task_payload(
        task, image_url=f"{rig.receiver_url}/images/{task.task_id}", width=160, height=120
    )
    ls_task_id = ls_client.import_task(project_id=rig.project_id, task=old)
    rig.state.record_task(
        CreatedTask(str(task.task_id), rig.project_id, ls_task_id, link.uri, link.sha256)
    )
    assert httpx.get(old["data"][IMAGE_NAME], timeout=30).status_code == 403

    def renewed_data() -> dict[str, Any] | None:
        data_now: dict[str, Any] = ls_client.task(ls_task_id)["data"]
        return data_now if data_now[IMAGE_NAME] != old["data"][IMAGE_NAME] else None

    bridge = rig.bridge(policy=NO_AUTO_LABEL, client=ls_client)
    with running(bridge, threading.Event()):
        renewed = _wait(renewed_data, timeout_s=60, what="the image URL renewed")
    image = httpx.get(renewed[IMAGE_NAME], timeout=30)
    assert (image.status_code, image.content) == (200, data)
    assert {k: v for k, v in renewed.items() if k != IMAGE_NAME} == {
        k: v for k, v in old["data"].items() if k != IMAGE_NAME
    }
    assert rig.state.tasks_with_image_urls_due(before=time.time() + 86400, limit=10) == []
    # A rotated secret: every URL is re-signed with the new key, not only those near expiry.
    rotated = ImageUrlSigner("rotated-webhook-secret-0123456789abcdef")
    renewals = refresh_image_urls(
        state=rig.state,
        client=ls_client,
        signer=rotated,
        bridge_url=rig.receiver_url,
        limit=10,
    )
    assert renewals == 1
    query = parse_qs(urlsplit(ls_client.task(ls_task_id)["data"][IMAGE_NAME]).query)
    [expires], [token] = query[EXPIRES_PARAM], query[TOKEN_PARAM]
    assert rotated.verify(str(task.task_id), expires=expires, token=token)


def _committed(rig: BridgeRig) -> int:
    """Messages of the task topic below the bridge group's committed offsets."""
    offsets = committed(rig.bootstrap, rig.group, [rig.topics.annotation_tasks])
    return sum(max(offset, 0) for offset in offsets.values())


def test_polling_finds_an_annotation_no_webhook_announced(
    rig: BridgeRig,
    ls_client: LabelStudioClient,
    label_studio: LocalLabelStudio,
    unique_name: str,
) -> None:
    quiet = ensure_project(ls_client, title=f"quiet {unique_name}")  # a project without webhook
    rig.project_id = quiet.project_id
    store = rig.tmp_path / "frames"
    task: AnnotationTask = fn_task(kept_image(store, frame_id="p0", seed=20)[0], frame_id="p0")
    send_tasks(rig.bootstrap, rig.topics, [CODEC.encode(task)])
    bridge = rig.bridge(policy=NO_AUTO_LABEL, client=ls_client, poll_interval_s=1.0)
    annotations = TopicReader(rig.bootstrap, rig.topics.annotations)
    with running(bridge, threading.Event()):
        [ls_task] = _wait(
            lambda: _project_tasks(label_studio, quiet.project_id),
            timeout_s=90,
            what="the Label Studio task",
        )
        _submit(label_studio, int(ls_task["id"]), [_rect("a", "usb", 1, 1, 10, 10)])
        events = annotations.events(Annotation, at_least=1, timeout_s=60, settle_s=3)
    assert len(events) == 1
    assert events[0].task_id == task.task_id
    assert [o.class_name for o in events[0].objects] == ["usb"]


def test_a_refused_token_stops_the_bridge_without_committing(
    rig: BridgeRig, label_studio: LocalLabelStudio
) -> None:
    refused = LabelStudioClient(url=label_studio.url, token="not-the-token")
    task = fn_task(kept_image(rig.tmp_path / "frames", frame_id="t0", seed=40)[0], frame_id="t0")
    send_tasks(rig.bootstrap, rig.topics, [CODEC.encode(task)])
    bridge = rig.bridge(policy=NO_AUTO_LABEL, client=refused)
    bridge.subscribe()
    with pytest.raises(LabelStudioAuthError, match="refused the API token"):
        _step_for(bridge, seconds=60)
    refused.close()
    letters = TopicReader(rig.bootstrap, rig.topics.dead_letters)
    assert letters.read(at_least=1, timeout_s=3) == []  # a good task is not dead-lettered
    letters.close()
    assert _committed(rig) == 0


def _step_for(bridge: AnnotationBridge, *, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        bridge.step()

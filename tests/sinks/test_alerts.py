"""Alert delivery against a local control-centre endpoint that checks every signature."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import math
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest

from schemas import Alert, Codec, DeadLetter
from schemas.authenticity import EventKeyring, add_keys
from schemas.topics import Topics
from sinks.alerts.delivery import AlertDelivery
from sinks.alerts.store import DeliveryStore
from sinks.exceptions import SinkError
from tests.kafka_kit import decoded, group_consumer, make_producer, make_topics, publish, read_topic
from tests.sinks.http_helpers import serving
from tests.sinks.samples import sample_events

KEY = b"shared-secret-of-the-control-centre"
CODEC = Codec()


class _ControlCentre(BaseHTTPRequestHandler):
    """Accepts each Idempotency-Key once; answers 500 as the test scripts it."""

    accepted: ClassVar[dict[str, int]] = {}
    attempts: ClassVar[dict[str, int]] = {}
    bad_signatures: ClassVar[list[str]] = []
    fail_first: ClassVar[int] = 0  # answer 500 to the first n attempts, without accepting
    lose_first_answer: ClassVar[bool] = False  # accept, but answer 500 the first time

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        key = self.headers["Idempotency-Key"]
        stamp = self.headers["X-Leakguard-Timestamp"]
        expected = (
            "sha256=" + hmac.new(KEY, f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
        )
        if not hmac.compare_digest(expected, self.headers["X-Leakguard-Signature"]):
            self.bad_signatures.append(key)
            self._answer(401)
            return
        if json.loads(body)["alert_id"] != key:
            self._answer(400)
            return
        self.attempts[key] = self.attempts.get(key, 0) + 1
        if self.attempts[key] <= self.fail_first:
            self._answer(500)
        elif key in self.accepted:
            self._answer(200)  # a retry of something already accepted: not accepted again
        else:
            self.accepted[key] = self.accepted.get(key, 0) + 1
            self._answer(500 if self.lose_first_answer else 201)

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def centre() -> Iterator[tuple[str, type[_ControlCentre]]]:
    handler = type(
        "Centre", (_ControlCentre,), {"accepted": {}, "attempts": {}, "bad_signatures": []}
    )
    with serving(handler) as url:
        yield f"{url}/alerts", handler


class _Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _alerts(n: int) -> list[dict[str, Any]]:
    alerts = [e for e in sample_events(frames=60) if isinstance(e, Alert)][:n]
    return [CODEC.decode_record(CODEC.encode(a), "Alert") for a in alerts]


def _delivery(url: str, tmp_path: Path, clock: _Clock) -> tuple[AlertDelivery, DeliveryStore]:
    store = DeliveryStore(path=tmp_path / "alerts" / "deliveries.sqlite")
    return AlertDelivery(endpoint=url, key=KEY, store=store, clock=clock), store


def test_retries_after_500s_until_accepted_once(
    centre: tuple[str, type[_ControlCentre]], tmp_path: Path
) -> None:
    url, handler = centre
    handler.fail_first = 2
    clock = _Clock()
    delivery, store = _delivery(url, tmp_path, clock)
    ids = [delivery.enqueue(record) for record in _alerts(5)]
    assert delivery.deliver_due() == 0  # every first attempt answered 500
    assert delivery.deliver_due() == 0  # not due yet: backing off
    for _ in range(4):
        clock.now += 60
        delivery.deliver_due()
    assert handler.accepted == dict.fromkeys(ids, 1)
    assert handler.bad_signatures == []
    assert store.counts() == {"delivered": 5}
    record = store.get(ids[0])
    assert record is not None
    assert (record.attempts, record.last_status) == (3, 201)


def test_a_retry_after_a_lost_answer_is_not_accepted_twice(
    centre: tuple[str, type[_ControlCentre]], tmp_path: Path
) -> None:
    url, handler = centre
    handler.lose_first_answer = True
    clock = _Clock()
    delivery, store = _delivery(url, tmp_path, clock)
    [alert_id] = [delivery.enqueue(record) for record in _alerts(1)]
    delivery.deliver_due()
    assert store.counts() == {"pending": 1}  # the answer was a 500: we do not know
    clock.now += 60
    assert delivery.deliver_due() == 1
    assert handler.accepted == {alert_id: 1}
    assert handler.attempts == {alert_id: 2}


def test_nothing_is_dropped_while_the_endpoint_is_unreachable(tmp_path: Path) -> None:
    clock = _Clock()
    delivery, store = _delivery("http://127.0.0.1:9/alerts", tmp_path, clock)
    delivery.enqueue(_alerts(1)[0])
    for _ in range(3):
        delivery.deliver_due()
        clock.now += 600
    assert store.counts() == {"pending": 1}
    [pending] = store.due(now=clock.now, limit=10)
    assert pending.attempts == 3
    assert pending.last_error is not None


def test_delivery_state_survives_a_restart(
    centre: tuple[str, type[_ControlCentre]], tmp_path: Path
) -> None:
    url, handler = centre
    clock = _Clock()
    delivery, store = _delivery(url, tmp_path, clock)
    record = _alerts(1)[0]
    delivery.enqueue(record)
    delivery.deliver_due()
    store.close()
    again, _ = _delivery(url, tmp_path, clock)
    again.enqueue(record)  # redelivered from Kafka after a restart
    clock.now += 600
    assert again.deliver_due() == 0
    assert sum(handler.attempts.values()) == 1


def test_plain_http_is_refused_off_loopback(tmp_path: Path) -> None:
    store = DeliveryStore(path=tmp_path / "d.sqlite")
    with pytest.raises(SinkError, match="https"):
        AlertDelivery(endpoint="http://control.example/alerts", key=KEY, store=store)


@pytest.mark.integration
def test_the_worker_delivers_alerts_from_the_topic_once(
    centre: tuple[str, type[_ControlCentre]],
    tmp_path: Path,
    kafka_bootstrap: str,
    unique_name: str,
) -> None:
    from sinks.alerts.worker import AlertWorker

    url, handler = centre
    spec = Topics()
    topics = make_topics(kafka_bootstrap, f"{unique_name}.", only=(spec.alerts, spec.dead_letters))
    alerts = [e for e in sample_events(frames=60) if isinstance(e, Alert)][:5]
    publish(
        kafka_bootstrap,
        [
            *((topics.alerts, a.checkpoint.encode(), CODEC.encode(a)) for a in alerts * 2),
            (topics.alerts, None, b"garbage"),
        ],
    )  # at-least-once upstream: every alert twice
    consumer = group_consumer(kafka_bootstrap, unique_name)
    store = DeliveryStore(path=tmp_path / "deliveries.sqlite")
    worker = AlertWorker(
        consumer=consumer,
        delivery=AlertDelivery(endpoint=url, key=KEY, store=store),
        topic=topics.alerts,
        producer=make_producer(kafka_bootstrap),
        dead_letter_topic=topics.dead_letters,
    )
    worker.subscribe()
    try:
        for _ in range(60):
            worker.step()
            if store.counts().get("delivered") == len(alerts):
                break
    finally:
        consumer.close()
    assert handler.accepted == {str(a.alert_id): 1 for a in alerts}
    assert store.counts() == {"delivered": len(alerts)}


@pytest.mark.integration
def test_with_a_keyring_a_forged_alert_cannot_pre_empt_the_real_one(
    centre: tuple[str, type[_ControlCentre]],
    tmp_path: Path,
    kafka_bootstrap: str,
    unique_name: str,
) -> None:
    """Alert ids come from the frame, so an empty alert forged under the real one's id and
    recorded first would make the store drop the real alert as a duplicate: untagged, it is
    dead-lettered instead, and the cloud's tagged alert is delivered."""
    from sinks.alerts.worker import AlertWorker

    url, handler = centre
    ring = tmp_path / "events.json"
    add_keys(ring, ["cloud:*", "edge:*"])
    keyring = EventKeyring.load(ring)
    spec = Topics()
    topics = make_topics(kafka_bootstrap, f"{unique_name}.", only=(spec.alerts, spec.dead_letters))
    real = next(e for e in sample_events(frames=60) if isinstance(e, Alert))
    forged = CODEC.encode(dataclasses.replace(real, items=()))
    genuine = CODEC.encode(real)
    producer = make_producer(kafka_bootstrap)
    for value, headers in (
        (forged, None),
        (forged, keyring.headers("edge:*", forged)),  # an edge's key: not the cloud's
        (genuine, keyring.headers("cloud:*", genuine)),
    ):
        producer.produce(topics.alerts, key=b"k", value=value, headers=headers)
    assert producer.flush(10) == 0
    consumer = group_consumer(kafka_bootstrap, unique_name)
    store = DeliveryStore(path=tmp_path / "deliveries.sqlite")
    worker = AlertWorker(
        consumer=consumer,
        delivery=AlertDelivery(endpoint=url, key=KEY, store=store),
        topic=topics.alerts,
        producer=producer,
        dead_letter_topic=topics.dead_letters,
        keyring=keyring,
    )
    worker.subscribe()
    try:
        for _ in range(60):
            worker.step()
            if store.counts().get("delivered") == 1:
                break
    finally:
        consumer.close()
    assert handler.accepted == {str(real.alert_id): 1}
    letters = read_topic(
        kafka_bootstrap, topics.dead_letters, until=lambda got: len(got) >= 2, timeout_s=30
    )
    reasons = [d.reason for d in decoded(letters, DeadLetter)]
    assert any("carries no producer tag" in r for r in reasons), reasons
    assert any("may not send it" in r for r in reasons), reasons


@pytest.mark.integration
def test_an_alert_with_a_nan_is_dead_lettered_not_sent(
    centre: tuple[str, type[_ControlCentre]],
    tmp_path: Path,
    kafka_bootstrap: str,
    unique_name: str,
) -> None:
    """NaN is not JSON: a strict control centre would refuse the alert at every retry."""
    from sinks.alerts.worker import AlertWorker

    url, handler = centre
    spec = Topics()
    topics = make_topics(kafka_bootstrap, f"{unique_name}.", only=(spec.alerts, spec.dead_letters))
    good, bad = [e for e in sample_events(frames=60) if isinstance(e, Alert)][:2]
    item = dataclasses.replace(bad.items[0], score=math.nan)
    hostile = CODEC.encode(dataclasses.replace(bad, items=(item, *bad.items[1:])))
    publish(
        kafka_bootstrap, [(topics.alerts, b"k", hostile), (topics.alerts, b"k", CODEC.encode(good))]
    )
    consumer = group_consumer(kafka_bootstrap, unique_name)
    store = DeliveryStore(path=tmp_path / "deliveries.sqlite")
    worker = AlertWorker(
        consumer=consumer,
        delivery=AlertDelivery(endpoint=url, key=KEY, store=store),
        topic=topics.alerts,
        producer=make_producer(kafka_bootstrap),
        dead_letter_topic=topics.dead_letters,
    )
    worker.subscribe()
    try:
        for _ in range(60):
            worker.step()
            if store.counts().get("delivered") == 1:
                break
    finally:
        consumer.close()
    assert handler.accepted == {str(good.alert_id): 1}
    (letter,) = read_topic(
        kafka_bootstrap, topics.dead_letters, until=lambda got: len(got) >= 1, timeout_s=30
    )
    assert CODEC.decode(letter.value(), DeadLetter).reason == (
        "Alert.items[0].score is not a finite number"
    )

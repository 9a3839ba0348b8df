"""Rollouts and alerts become Grafana annotations by themselves, once each.

The Grafana side is the local endpoint of ``tests/sinks/grafana_api.py``, which answers as
Grafana's documented HTTP API (no Grafana server can be installed here); the Kafka side is
the real embedded broker.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from schemas import Alert, Codec, ModelUpdate
from schemas.topics import Topics
from sinks.dashboards.annotator import ANNOTATED_EVENTS, AnnotationWorker, annotation_for
from sinks.dashboards.grafana import DASHBOARD_UID
from sinks.dashboards.push import GrafanaPublisher
from tests.kafka_kit import group_consumer, make_producer, publish, uncommitted
from tests.sinks.grafana_api import GrafanaAPI, grafana_api
from tests.sinks.kafka_helpers import analytics_topics, encoded
from tests.sinks.samples import sample_events

CODEC = Codec()
#: Generous for a loaded 2-core machine; Tansu completes a group join after ~6 s.
DEADLINE_S = 90.0


@pytest.fixture
def grafana() -> Iterator[tuple[str, type[GrafanaAPI]]]:
    with grafana_api() as endpoint:
        yield endpoint


def _annotated_events(frames: int) -> list[ModelUpdate | Alert]:
    return [e for e in sample_events(frames=frames) if isinstance(e, ModelUpdate | Alert)]


def _record(event: ModelUpdate | Alert) -> dict[str, object]:
    return CODEC.decode_record(CODEC.encode(event), type(event).__name__)


def test_a_rollout_record_becomes_a_keyed_rollout_annotation() -> None:
    update = next(e for e in _annotated_events(1) if isinstance(e, ModelUpdate))
    request = annotation_for("ModelUpdate", _record(update))
    assert request.key == str(update.event_id)
    assert request.at == update.event_time
    assert request.tags == ("rollout", update.rollout_mode, update.model_version)
    target = update.targets[0]
    assert f"{target.checkpoint}/{target.lane}" in request.text


def test_an_alert_record_is_keyed_by_its_alert_id() -> None:
    alert = next(e for e in _annotated_events(20) if isinstance(e, Alert))
    request = annotation_for("Alert", _record(alert))
    assert request.key == str(alert.alert_id)
    assert request.tags == ("alert", alert.checkpoint)
    for item in alert.items:
        assert item.class_name in request.text


def test_a_keyed_annotation_is_posted_once_and_found_after(
    grafana: tuple[str, type[GrafanaAPI]],
) -> None:
    url, handler = grafana
    publisher = GrafanaPublisher(url=url, token="sa-token")
    at = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
    first = publisher.annotate(at=at, text="alert a1", tags=["alert"], key="a1")
    again = publisher.annotate(at=at, text="alert a1", tags=["alert"], key="a1")
    assert again["id"] == first["id"]
    assert len(handler.annotations) == 1
    lookup, post, second_lookup = handler.received
    assert (lookup["method"], post["method"], second_lookup["method"]) == ("GET", "POST", "GET")
    query = parse_qs(urlsplit(lookup["path"]).query)
    assert urlsplit(lookup["path"]).path == "/api/annotations"
    assert query["dashboardUID"] == [DASHBOARD_UID]
    assert query["type"] == ["annotation"]
    assert query["tags"] == ["leakguard", "id:a1"]
    assert post["path"] == "/api/annotations"
    assert post["body"]["tags"] == ["leakguard", "alert", "id:a1"]
    assert post["body"]["time"] == int(at.timestamp() * 1000)
    assert {r["auth"] for r in handler.received} == {"Bearer sa-token"}


def _worker(bootstrap: str, topics: Topics, group: str, url: str) -> AnnotationWorker:
    return AnnotationWorker(
        consumer=group_consumer(bootstrap, group),
        publisher=GrafanaPublisher(url=url, token="sa-token"),
        topic_events=topics.routes(ANNOTATED_EVENTS),
        producer=make_producer(bootstrap),
        dead_letter_topic=topics.dead_letters,
        retry_max_s=1.0,
    )


@pytest.mark.integration
@pytest.mark.slow
def test_rollouts_and_alerts_from_the_topics_become_one_annotation_each(
    kafka_bootstrap: str, unique_name: str, grafana: tuple[str, type[GrafanaAPI]]
) -> None:
    """Every event delivered twice, Grafana down for the first requests: one annotation per
    rollout step and per alert, garbage dead-lettered, every offset committed."""
    url, handler = grafana
    handler.fail_first = 5
    topics = analytics_topics(kafka_bootstrap, unique_name)
    events = _annotated_events(60)
    publish(kafka_bootstrap, encoded(topics, events))
    publish(kafka_bootstrap, encoded(topics, events))  # at-least-once: every event a second time
    publish(kafka_bootstrap, [(topics.alerts, None, b"not avro")])
    expected = {str(e.event_id) for e in events if isinstance(e, ModelUpdate)}
    expected |= {str(e.alert_id) for e in events if isinstance(e, Alert)}
    worker = _worker(kafka_bootstrap, topics, unique_name, url)
    worker.subscribe()
    deadline = time.monotonic() + DEADLINE_S
    try:
        while worker.posted < 2 * len(events) and time.monotonic() < deadline:
            worker.step()
    finally:
        worker._consumer.close()
    keys = [tag[3:] for a in handler.annotations for tag in a["tags"] if tag.startswith("id:")]
    assert sorted(keys) == sorted(expected)  # each exactly once
    assert all(a["dashboardUID"] == DASHBOARD_UID for a in handler.annotations)
    assert handler.fail_first == 0  # the 503s were answered, and retried
    assert uncommitted(kafka_bootstrap, unique_name, topics.routes(ANNOTATED_EVENTS)) == []
    dead = [topics.dead_letters]
    assert len(uncommitted(kafka_bootstrap, f"{unique_name}-reader", dead)) == 1

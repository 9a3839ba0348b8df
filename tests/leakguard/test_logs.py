"""The JSON log format: one object per line with the standard fields, an event's id,
topic, partition and offset when the call passes them, and the traceback of an error."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from leakguard.logs import about, json_formatter, logging_config


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    logger = logging.getLogger("leakguard.test.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_about_an_event_carries_its_id_topic_partition_and_offset(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    where = about(topic="detections", partition=3, offset=42, event_id="frame-1")
    logger.warning("dead-lettering %s", "it", extra=where)
    (line,) = _lines(stream)
    assert line["message"] == "dead-lettering it"
    assert (line["level"], line["logger"]) == ("WARNING", "leakguard.test.logs")
    assert (line["event_id"], line["topic"], line["partition"], line["offset"]) == (
        "frame-1",
        "detections",
        3,
        42,
    )
    assert str(line["time"]).endswith("+00:00")


def test_a_line_about_nothing_in_particular_has_no_event_fields(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    logger.info("started")
    (line,) = _lines(stream)
    assert not {"event_id", "topic", "partition", "offset"} & set(line)


def test_about_keeps_only_what_is_known_and_cuts_long_ids() -> None:
    assert about(topic="t", offset=0) == {"topic": "t", "offset": 0}
    assert len(about(event_id="x" * 10_000)["event_id"]) == 200


def test_an_error_keeps_its_traceback_inside_the_one_line(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    try:
        raise ValueError("bad frame")
    except ValueError:
        logger.exception("event failed", extra=about(topic="detections", partition=0, offset=7))
    assert len(stream.getvalue().splitlines()) == 1
    (line,) = _lines(stream)
    assert "ValueError: bad frame" in str(line["exc_info"])


def test_text_format_leaves_logging_to_the_command() -> None:
    assert logging_config("INFO", "text") is None
    config = logging_config("WARNING", "json")
    assert config is not None
    assert config["root"]["level"] == "WARNING"

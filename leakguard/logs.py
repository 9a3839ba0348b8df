"""Log lines as JSON, one object per line, for a log pipeline rather than a terminal.

Every process keeps logging through the standard library; ``json`` only swaps the
formatter (python-json-logger's), so each line is an object with ``time``, ``level``,
``logger`` and ``message``, plus whatever the call passed as ``extra=``. A line about one
event passes :func:`about`'s fields, so the event can be found again on its topic:
``event_id``, ``topic``, ``partition`` and ``offset``.
"""

from __future__ import annotations

import logging
import logging.config
from typing import Any, Final, Literal

__all__ = ["EVENT_FIELDS", "LogFormat", "about", "json_formatter", "logging_config"]

LogFormat = Literal["text", "json"]
#: The fields a line about an event carries (``extra=about(...)``).
EVENT_FIELDS: Final[tuple[str, ...]] = ("event_id", "topic", "partition", "offset")
#: Longest event id kept in a line: ids are input, and one 10 kB id must not make a 10 kB line.
MAX_EVENT_ID_CHARS: Final[int] = 200


def about(
    *,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """The ``extra=`` of a log call about one event: what is known of it, nothing else."""
    fields: dict[str, Any] = {
        "event_id": None if event_id is None else event_id[:MAX_EVENT_ID_CHARS],
        "topic": topic,
        "partition": partition,
        "offset": offset,
    }
    return {name: value for name, value in fields.items() if value is not None}


def json_formatter() -> logging.Formatter:
    """One JSON object per record: ``time`` (ISO 8601, UTC), ``level``, ``logger``,
    ``message``, the record's ``extra=`` fields and, with an exception, ``exc_info``."""
    from pythonjsonlogger.json import JsonFormatter

    return JsonFormatter(
        "{levelname}{name}{message}",
        style="{",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="time",
    )


def logging_config(level: str | int, log_format: LogFormat) -> dict[str, Any] | None:
    """A :func:`logging.config.dictConfig` that sends every record at ``level`` or above to
    standard error in ``log_format``; None for ``text``, whose look each command keeps."""
    if log_format == "text":
        return None
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": json_formatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
    }

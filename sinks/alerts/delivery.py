"""Alert delivery to the control centre: signed, idempotent, retried until accepted.

Every alert is POSTed as JSON to the configured HTTPS endpoint with three headers:

- ``Idempotency-Key``: the alert's ``alert_id``, stable across re-sends, so the control
  centre accepts an alert once however often it arrives (a retry after a lost response);
- ``X-Leakguard-Timestamp``: Unix seconds of the attempt;
- ``X-Leakguard-Signature``: ``sha256=`` + hex HMAC-SHA256 over ``<timestamp>.<body>``
  with the shared key, so the receiver can check origin, integrity and freshness.

Delivery state lives in :class:`~sinks.alerts.store.DeliveryStore`. A 2xx answer (or 409,
"already have it") marks the alert delivered; anything else, including a network error or a
4xx, keeps it pending with an exponential back-off: a failed delivery is retried, never
dropped, and the state says why it is still pending.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlsplit

import httpx

from sinks.alerts.store import DeliveryStore
from sinks.exceptions import SinkError

__all__ = ["AlertDelivery", "alert_payload", "sign"]

SIGNATURE_HEADER: Final = "X-Leakguard-Signature"
TIMESTAMP_HEADER: Final = "X-Leakguard-Timestamp"
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
#: First retry after a failed attempt; doubles up to RETRY_MAX_S.
RETRY_INITIAL_S: Final = 1.0
#: A control centre down for hours is retried every 5 minutes, not hammered.
RETRY_MAX_S: Final = 300.0
#: Deliveries attempted per round, so one round stays short.
ROUND_LIMIT: Final = 100
#: An HTTP call longer than this counts as failed (and is retried).
REQUEST_TIMEOUT_S: Final = 10.0
#: Plain http is allowed only to these hosts (local tests and sidecars).
_LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "::1"})


def sign(key: bytes, timestamp: int, body: bytes) -> str:
    """The signature header value over ``<timestamp>.<body>``."""
    mac = hmac.new(key, str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)  # uuid.UUID


def alert_payload(record: Mapping[str, Any]) -> tuple[str, bytes]:
    """``(alert_id, canonical JSON body)`` of a decoded ``Alert`` record."""
    # allow_nan=False: NaN is not JSON, and a control centre's strict parser would refuse
    # the alert at every retry (the worker dead-letters such alerts before they get here).
    body = json.dumps(
        _jsonable(record), sort_keys=True, separators=(",", ":"), allow_nan=False
    ).encode()
    return str(record["alert_id"]), body


class AlertDelivery:
    """Delivers queued alerts; see the module docstring.

    Keyword-only: ``endpoint`` (https, or http to a loopback host), ``key`` (HMAC key),
    ``store``, ``client`` (an ``httpx.Client``, built when absent) and ``clock``.
    """

    def __init__(
        self,
        *,
        endpoint: str,
        key: bytes,
        store: DeliveryStore,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in _LOOPBACK):
            raise SinkError("the control-centre endpoint must be https (http only on loopback)")
        if not key:
            raise SinkError("the alert signing key must not be empty")
        self._endpoint = endpoint
        self._key = key
        self._store = store
        self._client = client if client is not None else httpx.Client(timeout=REQUEST_TIMEOUT_S)
        self._clock = clock

    def enqueue(self, record: Mapping[str, Any]) -> str:
        """Queue a decoded ``Alert`` record durably; returns its alert id."""
        alert_id, body = alert_payload(record)
        self._store.enqueue(alert_id, body, now=self._clock())
        return alert_id

    def deliver_due(self) -> int:
        """Attempt every due delivery once; returns how many were accepted."""
        now = self._clock()
        accepted = 0
        for delivery in self._store.due(now=now, limit=ROUND_LIMIT):
            timestamp = int(self._clock())
            headers = {
                "Content-Type": "application/json",
                IDEMPOTENCY_HEADER: delivery.alert_id,
                TIMESTAMP_HEADER: str(timestamp),
                SIGNATURE_HEADER: sign(self._key, timestamp, delivery.payload),
            }
            delay = min(RETRY_INITIAL_S * 2**delivery.attempts, RETRY_MAX_S)
            try:
                response = self._client.post(
                    self._endpoint, content=delivery.payload, headers=headers
                )
            except httpx.HTTPError as exc:
                self._store.mark_failed(
                    delivery.alert_id,
                    status=None,
                    error=f"{type(exc).__name__}: {exc}",
                    next_attempt_at=now + delay,
                )
                continue
            if response.is_success or response.status_code == httpx.codes.CONFLICT:
                self._store.mark_delivered(
                    delivery.alert_id, status=response.status_code, now=self._clock()
                )
                accepted += 1
            else:
                self._store.mark_failed(
                    delivery.alert_id,
                    status=response.status_code,
                    error=response.text[:500],
                    next_attempt_at=now + delay,
                )
        return accepted

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()

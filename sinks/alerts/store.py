"""The durable record of alert deliveries: a small SQLite file under the data dir.

SQLite rather than ClickHouse because delivery state is mutable, per-row and must survive a
crash between "the control centre accepted it" and "we noted it": one transaction per state
change, no merge semantics to reason about, and it works with the embedded default. Rows
are never deleted: a delivery is ``pending`` until the control centre accepted it, then
``delivered`` with the time and attempt count, which is the audit trail.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

__all__ = ["Delivery", "DeliveryState", "DeliveryStore"]

DeliveryState = Literal["pending", "delivered"]

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS deliveries (
    alert_id TEXT PRIMARY KEY,
    payload BLOB NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_status INTEGER,
    last_error TEXT,
    next_attempt_at REAL NOT NULL,
    delivered_at REAL
)
"""


@dataclass(frozen=True)
class Delivery:
    """One alert's delivery record."""

    alert_id: str
    payload: bytes
    state: DeliveryState
    attempts: int
    last_status: int | None
    last_error: str | None
    next_attempt_at: float
    delivered_at: float | None


class DeliveryStore:
    """Delivery records in the SQLite file at ``path`` (created with its folder)."""

    def __init__(self, *, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)

    def enqueue(self, alert_id: str, payload: bytes, *, now: float) -> bool:
        """Record an alert to deliver; a re-sent alert not yet delivered gets the newer
        payload, a delivered one is left alone. Returns whether anything changed."""
        cursor = self._db.execute(
            "INSERT INTO deliveries (alert_id, payload, state, next_attempt_at) "
            "VALUES (?, ?, 'pending', ?) ON CONFLICT(alert_id) DO UPDATE SET "
            "payload = excluded.payload WHERE deliveries.state = 'pending'",
            (alert_id, payload, now),
        )
        return cursor.rowcount > 0

    def due(self, *, now: float, limit: int) -> list[Delivery]:
        """Pending deliveries whose next attempt is due, oldest first."""
        rows = self._db.execute(
            "SELECT * FROM deliveries WHERE state = 'pending' AND next_attempt_at <= ? "
            "ORDER BY next_attempt_at LIMIT ?",
            (now, limit),
        ).fetchall()
        return [Delivery(*row) for row in rows]

    def get(self, alert_id: str) -> Delivery | None:
        """The record of ``alert_id``, if any."""
        row = self._db.execute(
            "SELECT * FROM deliveries WHERE alert_id = ?", (alert_id,)
        ).fetchone()
        return None if row is None else Delivery(*row)

    def mark_delivered(self, alert_id: str, *, status: int, now: float) -> None:
        """The control centre accepted the alert."""
        self._db.execute(
            "UPDATE deliveries SET state = 'delivered', attempts = attempts + 1, "
            "last_status = ?, last_error = NULL, delivered_at = ? WHERE alert_id = ?",
            (status, now, alert_id),
        )

    def mark_failed(
        self, alert_id: str, *, status: int | None, error: str, next_attempt_at: float
    ) -> None:
        """An attempt failed; the alert stays pending until ``next_attempt_at``."""
        self._db.execute(
            "UPDATE deliveries SET attempts = attempts + 1, last_status = ?, last_error = ?, "
            "next_attempt_at = ? WHERE alert_id = ?",
            (status, error, next_attempt_at, alert_id),
        )

    def counts(self) -> dict[str, int]:
        """Deliveries per state."""
        rows = self._db.execute("SELECT state, count(*) FROM deliveries GROUP BY state")
        return {state: count for state, count in rows}

    def close(self) -> None:
        """Close the database file."""
        self._db.close()

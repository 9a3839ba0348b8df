"""The bridge's durable memory: a small SQLite file under the data dir.

Three things must survive a crash or restart of the bridge:

* ``tasks`` — which ``AnnotationTask`` became which Label Studio task (and so which image
  the bridge serves for it): a re-delivered task is not created twice. A row is written
  *before* the task is created (``ls_task_id`` null) and completed after, so only a task
  whose creation was interrupted needs a lookup in Label Studio. ``url_expires_at`` is when
  the signed image URL in the Label Studio task stops working (null: never signed), so the
  bridge knows which to renew;
* ``emitted`` — which annotation *versions* (Label Studio annotation id + ``updated_at``)
  have become ``Annotation`` events: a re-delivered webhook or an overlapping poll never
  produces a second event;
* ``inbox`` — webhook bodies accepted but not yet processed: Label Studio waits at most a
  second for the webhook's answer, so the receiver only stores the body and the bridge
  loop does the work.

SQLite because the state is small, mutable and per row, and works with the embedded default
(the alert store, ``sinks/alerts/store.py``, makes the same choice). One connection guarded
by a lock serves the bridge loop and the receiver thread.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

__all__ = ["AnnotationVersion", "BridgeState", "CreatedTask", "StateCounts"]

EmitState = Literal["emitted", "rejected"]

_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS tasks (
        task_id TEXT PRIMARY KEY,
        project_id INTEGER NOT NULL,
        ls_task_id INTEGER,
        image_uri TEXT NOT NULL,
        image_sha256 TEXT NOT NULL,
        created_at REAL NOT NULL,
        url_expires_at REAL
    )""",
    """CREATE TABLE IF NOT EXISTS emitted (
        project_id INTEGER NOT NULL,
        ls_annotation_id INTEGER NOT NULL,
        updated_at TEXT NOT NULL,
        annotation_id TEXT,
        state TEXT NOT NULL,
        reason TEXT,
        at REAL NOT NULL,
        PRIMARY KEY (project_id, ls_annotation_id, updated_at)
    )""",
    """CREATE TABLE IF NOT EXISTS inbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        body BLOB NOT NULL,
        received_at REAL NOT NULL
    )""",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)
#: Columns added since the first release, added to a state file that lacks them.
_ADDED_COLUMNS: Final = (("tasks", "url_expires_at", "REAL"),)


@dataclass(frozen=True)
class CreatedTask:
    """A Label Studio task the bridge creates for an ``AnnotationTask`` (``ls_task_id``
    is ``None`` until Label Studio confirmed it)."""

    task_id: str
    project_id: int
    ls_task_id: int | None
    image_uri: str
    image_sha256: str


@dataclass(frozen=True)
class AnnotationVersion:
    """One version of a Label Studio annotation: it becomes at most one event."""

    project_id: int
    ls_annotation_id: int
    updated_at: str


@dataclass(frozen=True)
class StateCounts:
    """What ``leakguard annotate status`` reports from the state file."""

    tasks: int
    emitted: int
    rejected: int
    inbox: int


class BridgeState:
    """The state file at ``path`` (created with its folder)."""

    def __init__(self, *, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            for statement in _SCHEMA:
                self._db.execute(statement)
            for table, column, kind in _ADDED_COLUMNS:
                present = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
                if column not in present:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    # -- tasks -----------------------------------------------------------------------------

    def task(self, task_id: str) -> CreatedTask | None:
        """The Label Studio task created for ``task_id``, if any."""
        with self._lock:
            row = self._db.execute(
                "SELECT task_id, project_id, ls_task_id, image_uri, image_sha256 FROM tasks "
                "WHERE task_id = ?",
                (task_id,),
            ).fetchone()
        return None if row is None else CreatedTask(*row)

    def record_task(self, created: CreatedTask) -> None:
        """Remember a task being created (``ls_task_id`` ``None``) or created; a task that
        already has its Label Studio id keeps it."""
        with self._lock:
            self._db.execute(
                "INSERT INTO tasks (task_id, project_id, ls_task_id, image_uri, image_sha256, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(task_id) DO UPDATE "
                "SET ls_task_id = excluded.ls_task_id WHERE tasks.ls_task_id IS NULL",
                (
                    created.task_id,
                    created.project_id,
                    created.ls_task_id,
                    created.image_uri,
                    created.image_sha256,
                    time.time(),
                ),
            )

    def set_image_url_expiry(self, task_id: str, expires_at: float) -> None:
        """Remember when the signed image URL now in ``task_id``'s Label Studio task expires."""
        with self._lock:
            self._db.execute(
                "UPDATE tasks SET url_expires_at = ? WHERE task_id = ?", (expires_at, task_id)
            )

    def forget_image_url_expiries(self) -> None:
        """Mark every task's image URL as due for renewal (the signing key changed)."""
        with self._lock:
            self._db.execute("UPDATE tasks SET url_expires_at = NULL")

    def tasks_with_image_urls_due(self, *, before: float, limit: int) -> list[tuple[str, int]]:
        """``(task_id, ls_task_id)`` of created tasks whose image URL expires before
        ``before`` or was never signed, soonest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT task_id, ls_task_id FROM tasks WHERE ls_task_id IS NOT NULL AND "
                "(url_expires_at IS NULL OR url_expires_at < ?) "
                "ORDER BY coalesce(url_expires_at, 0), task_id LIMIT ?",
                (before, limit),
            ).fetchall()
        return [(str(row[0]), int(row[1])) for row in rows]

    # -- annotation versions -----------------------------------------------------------------

    def seen(self, version: AnnotationVersion) -> bool:
        """Whether this annotation version was already emitted or rejected."""
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM emitted WHERE project_id = ? AND ls_annotation_id = ? "
                "AND updated_at = ?",
                (version.project_id, version.ls_annotation_id, version.updated_at),
            ).fetchone()
        return row is not None

    def record_version(
        self,
        version: AnnotationVersion,
        *,
        state: EmitState,
        annotation_id: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Remember that an annotation version was emitted (or rejected, with the reason)."""
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO emitted VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    version.project_id,
                    version.ls_annotation_id,
                    version.updated_at,
                    annotation_id,
                    state,
                    reason,
                    time.time(),
                ),
            )

    # -- webhook inbox -----------------------------------------------------------------------

    def push_webhook(self, body: bytes) -> None:
        """Store a webhook body until the bridge loop processes it."""
        with self._lock:
            self._db.execute(
                "INSERT INTO inbox (body, received_at) VALUES (?, ?)", (body, time.time())
            )

    def webhooks(self, *, limit: int) -> list[tuple[int, bytes]]:
        """The oldest unprocessed webhook bodies, ``(id, body)``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, body FROM inbox ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
        return [(int(row[0]), bytes(row[1])) for row in rows]

    def drop_webhook(self, inbox_id: int) -> None:
        """Forget a processed webhook body."""
        with self._lock:
            self._db.execute("DELETE FROM inbox WHERE id = ?", (inbox_id,))

    # -- small values ------------------------------------------------------------------------

    def get(self, key: str) -> str | None:
        """A stored value (e.g. the polling cursor), if set."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def put(self, key: str, value: str) -> None:
        """Store a value under ``key``."""
        with self._lock:
            self._db.execute(
                "INSERT INTO meta VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def counts(self) -> StateCounts:
        """Tasks created, versions emitted and rejected, webhooks waiting."""
        with self._lock:
            tasks = self._db.execute(
                "SELECT count(*) FROM tasks WHERE ls_task_id IS NOT NULL"
            ).fetchone()[0]
            states = dict(self._db.execute("SELECT state, count(*) FROM emitted GROUP BY state"))
            inbox = self._db.execute("SELECT count(*) FROM inbox").fetchone()[0]
        return StateCounts(
            tasks=int(tasks),
            emitted=int(states.get("emitted", 0)),
            rejected=int(states.get("rejected", 0)),
            inbox=int(inbox),
        )

    def close(self) -> None:
        """Close the database file."""
        with self._lock:
            self._db.close()

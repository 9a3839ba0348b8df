"""The review queue: frames of the console's lanes, their detections and who reviewed them.

It lives in SQLite under the data dir, not in the browser or in memory, so a page reload,
a second screen or a console restart shows the same queue. A frame enters with its
detection and the image the detection links to (or why that image could not be read).
Kafka offsets are stored in the same transaction as the rows they produced, so after a
restart the feed resumes exactly where the queue stands (no frame lost, none counted twice).

A guard's verdict is stored in the outbox in the same transaction that marks its frame
answered, and leaves the outbox only once Kafka acknowledged it
(:mod:`streams.console.outbox`): a console killed before the acknowledgement sends it after
its restart, instead of a frame counted as answered whose verdict never left.

Rows that need nothing more (reviewed, or never alarmed) are pruned down to the most recent
few per lane; images of pending alarms are never pruned.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from schemas.codec import Codec
from schemas.events import Detection, GuardVerdict
from streams.console.exceptions import FrameNotFoundError, VerdictError

__all__ = ["DEFAULT_KEEP_PER_LANE", "QueueItem", "ReviewQueue", "ViewImage"]

#: Finished frames kept per lane: enough to scroll back through the last minute of a lane.
DEFAULT_KEEP_PER_LANE: Final = 50

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS frames (
    id INTEGER PRIMARY KEY,
    checkpoint TEXT NOT NULL,
    lane TEXT NOT NULL,
    frame_id TEXT NOT NULL,
    received_ms INTEGER NOT NULL,
    image BLOB,
    image_error TEXT,
    detection BLOB NOT NULL,
    alarmed INTEGER NOT NULL,
    reviewed_by TEXT,
    verdict_id TEXT,
    reviewed_ms INTEGER,
    UNIQUE (checkpoint, lane, frame_id)
);
CREATE INDEX IF NOT EXISTS frames_pending ON frames (lane, alarmed, reviewed_by, received_ms);
CREATE TABLE IF NOT EXISTS offsets (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
);
CREATE TABLE IF NOT EXISTS outbox (
    verdict_id TEXT PRIMARY KEY,
    verdict BLOB NOT NULL,
    created_ms INTEGER NOT NULL,
    leased_until_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_order ON outbox (created_ms);
CREATE TABLE IF NOT EXISTS view_images (
    frame INTEGER NOT NULL,
    view_id TEXT NOT NULL,
    image BLOB,
    image_error TEXT,
    PRIMARY KEY (frame, view_id)
);
"""
_COLUMNS: Final = (
    "id, checkpoint, lane, frame_id, received_ms, image IS NOT NULL, image_error, detection, "
    "reviewed_by, reviewed_ms"
)


@dataclass(frozen=True, slots=True)
class ViewImage:
    """The verified image of one extra view of a frame (#20), or why there is none."""

    view_id: str
    image: bytes | None
    image_error: str | None = None


@dataclass(frozen=True, slots=True)
class QueueItem:
    """One detected frame as the console shows it."""

    id: int
    checkpoint: str
    lane: str
    frame_id: str
    received_ms: int
    has_image: bool
    image_error: str | None
    detection: Detection
    reviewed_by: str | None
    reviewed_ms: int | None
    view_errors: Mapping[str, str | None] = field(default_factory=dict)
    """Extra view id -> why its image is missing; ``None`` when the image is there."""

    @property
    def alarmed(self) -> bool:
        """Whether the detector raised the alarm on this frame."""
        return self.detection.alarmed


class ReviewQueue:
    """The queue in the SQLite file ``path`` (``":memory:"`` for a throw-away one).

    One connection shared by the feed thread and the web handlers, behind a lock: the
    console's traffic is a few writes a second, far below what one connection does.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        keep_per_lane: int = DEFAULT_KEEP_PER_LANE,
        codec: Codec | None = None,
    ) -> None:
        if isinstance(path, Path):
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        # A queue written by a console that read scanner.frames may hold frames whose
        # detection had not come yet: that detection, still ahead of the stored offset,
        # adds the frame again with its image.
        self._db.execute("DELETE FROM frames WHERE detection IS NULL")
        self._lock = threading.Lock()
        self._codec = codec if codec is not None else Codec()
        self._keep = keep_per_lane

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def add_detection(
        self,
        detection: Detection,
        *,
        image: bytes | None,
        image_error: str | None = None,
        views: Iterable[ViewImage] = (),
    ) -> None:
        """Store a frame's detection with its verified image (or why there is none) and
        those of its extra views; a replayed detection of a known frame changes nothing."""
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO frames (checkpoint, lane, frame_id, received_ms, image, "
                "image_error, detection, alarmed) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    detection.checkpoint,
                    detection.lane,
                    detection.frame_id,
                    _now_ms(),
                    image,
                    image_error,
                    self._codec.encode(detection),
                    int(detection.alarmed),
                ),
            )
            if cursor.rowcount == 1:
                db.executemany(
                    "INSERT INTO view_images (frame, view_id, image, image_error) "
                    "VALUES (?, ?, ?, ?)",
                    [(cursor.lastrowid, v.view_id, v.image, v.image_error) for v in views],
                )

    def save_offsets(self, offsets: Mapping[tuple[str, int], int]) -> None:
        """Record ``(topic, partition) -> next offset to read`` once a batch is stored."""
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO offsets (topic, partition, next_offset) VALUES (?, ?, ?) "
                "ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset",
                [(topic, partition, offset) for (topic, partition), offset in offsets.items()],
            )

    def offsets(self) -> dict[tuple[str, int], int]:
        """``(topic, partition) -> next offset to read``, as last stored."""
        with self._lock:
            rows = self._db.execute("SELECT topic, partition, next_offset FROM offsets").fetchall()
        return {(topic, partition): offset for topic, partition, offset in rows}

    def pending(self, lanes: Iterable[str]) -> list[QueueItem]:
        """Alarmed frames of ``lanes`` no guard has answered yet, oldest first."""
        lanes = tuple(lanes)
        marks = ", ".join("?" * len(lanes))
        return self._select(
            f"WHERE lane IN ({marks}) AND alarmed = 1 AND reviewed_by IS NULL "
            "ORDER BY received_ms, id",
            lanes,
        )

    def latest(self, lane: str) -> QueueItem | None:
        """The most recent frame of ``lane`` (the live view), reviewed or not."""
        items = self._select("WHERE lane = ? ORDER BY received_ms DESC, id DESC LIMIT 1", (lane,))
        return items[0] if items else None

    def lanes(self) -> list[str]:
        """Every lane the queue has seen a frame of, sorted."""
        with self._lock:
            rows = self._db.execute("SELECT DISTINCT lane FROM frames ORDER BY lane").fetchall()
        return [row[0] for row in rows]

    def item(self, item_id: int) -> QueueItem:
        """The frame with queue id ``item_id``."""
        items = self._select("WHERE id = ?", (item_id,))
        if not items:
            raise FrameNotFoundError(f"frame {item_id} is not in the queue")
        return items[0]

    def image(self, item_id: int) -> bytes:
        """The verified PNG of frame ``item_id``."""
        with self._lock:
            row = self._db.execute("SELECT image FROM frames WHERE id = ?", (item_id,)).fetchone()
        if row is None or row[0] is None:
            raise FrameNotFoundError(f"frame {item_id} has no image (yet)")
        return bytes(row[0])

    def view_image(self, item_id: int, view_id: str) -> bytes:
        """The verified PNG of the extra view ``view_id`` of frame ``item_id``."""
        with self._lock:
            row = self._db.execute(
                "SELECT image FROM view_images WHERE frame = ? AND view_id = ?", (item_id, view_id)
            ).fetchone()
        if row is None or row[0] is None:
            raise FrameNotFoundError(f"frame {item_id} has no image of view {view_id[:64]!r}")
        return bytes(row[0])

    def answer(self, item_id: int, verdict: GuardVerdict, *, leased_until_ms: int) -> None:
        """Mark frame ``item_id`` answered by ``verdict``'s guard and put ``verdict`` in the
        outbox, leased to the caller until ``leased_until_ms``, in one transaction.

        Two guards answering the same frame must not both send a verdict: the first answer
        wins and the second is refused (:class:`VerdictError`).
        """
        with self._transaction() as db:
            row = db.execute("SELECT reviewed_by FROM frames WHERE id = ?", (item_id,)).fetchone()
            if row is None:
                raise FrameNotFoundError(f"frame {item_id} is not in the queue")
            if row[0] is not None:
                raise VerdictError(f"the frame was already answered by {row[0]}")
            now_ms = _now_ms()
            db.execute(
                "UPDATE frames SET reviewed_by = ?, reviewed_ms = ?, verdict_id = ? WHERE id = ?",
                (verdict.guard_id, now_ms, str(verdict.event_id), item_id),
            )
            db.execute(
                "INSERT INTO outbox (verdict_id, verdict, created_ms, leased_until_ms) "
                "VALUES (?, ?, ?, ?)",
                (str(verdict.event_id), self._codec.encode(verdict), now_ms, leased_until_ms),
            )

    def lease_next(self, *, now_ms: int, leased_until_ms: int) -> GuardVerdict | None:
        """The oldest verdict in the outbox no sender holds, now leased until
        ``leased_until_ms``; ``None`` when there is none."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT verdict_id, verdict FROM outbox WHERE leased_until_ms <= ? "
                "ORDER BY created_ms, verdict_id LIMIT 1",
                (now_ms,),
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE outbox SET leased_until_ms = ? WHERE verdict_id = ?",
                (leased_until_ms, row[0]),
            )
        return self._codec.decode(bytes(row[1]), GuardVerdict)

    def unlease(self, verdict: GuardVerdict) -> None:
        """Give ``verdict`` back to the outbox at once (its send failed; retry it soon)."""
        with self._transaction() as db:
            db.execute(
                "UPDATE outbox SET leased_until_ms = 0 WHERE verdict_id = ?",
                (str(verdict.event_id),),
            )

    def delivered(self, verdict: GuardVerdict) -> None:
        """Kafka acknowledged ``verdict``: it leaves the outbox."""
        with self._transaction() as db:
            db.execute("DELETE FROM outbox WHERE verdict_id = ?", (str(verdict.event_id),))

    def outbox(self) -> list[GuardVerdict]:
        """Verdicts not yet acknowledged by Kafka, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT verdict FROM outbox ORDER BY created_ms, verdict_id"
            ).fetchall()
        return [self._codec.decode(bytes(row[0]), GuardVerdict) for row in rows]

    def prune(self) -> int:
        """Drop finished frames beyond the most recent ``keep_per_lane`` per lane."""
        with self._transaction() as db:
            cursor = db.execute(
                "DELETE FROM frames WHERE id IN ("
                " SELECT id FROM (SELECT id, alarmed, reviewed_by, ROW_NUMBER() OVER"
                "  (PARTITION BY checkpoint, lane ORDER BY received_ms DESC, id DESC) AS age"
                "  FROM frames)"
                " WHERE age > ? AND NOT (alarmed = 1 AND reviewed_by IS NULL))",
                (self._keep,),
            )
            db.execute("DELETE FROM view_images WHERE frame NOT IN (SELECT id FROM frames)")
            return cursor.rowcount

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def _select(self, where: str, params: tuple[object, ...]) -> list[QueueItem]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM frames {where}", params).fetchall()
            views: dict[int, dict[str, str | None]] = {}
            for frame, view_id, has_image, error in self._db.execute(
                "SELECT frame, view_id, image IS NOT NULL, image_error FROM view_images "
                f"WHERE frame IN ({', '.join('?' * len(rows))})",
                [row[0] for row in rows],
            ):
                views.setdefault(frame, {})[view_id] = None if has_image else error
        return [
            QueueItem(
                id=row[0],
                checkpoint=row[1],
                lane=row[2],
                frame_id=row[3],
                received_ms=row[4],
                has_image=bool(row[5]),
                image_error=row[6],
                detection=self._codec.decode(bytes(row[7]), Detection),
                reviewed_by=row[8],
                reviewed_ms=row[9],
                view_errors=views.get(row[0], {}),
            )
            for row in rows
        ]


def _now_ms() -> int:
    return int(time.time() * 1000)

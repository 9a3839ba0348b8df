"""What the outcome join remembers about one frame: the typed value of its Faust table, and
the bytes that value has in the table's changelog.

Why a hand-written binary layout and not a ``faust.Record`` or an Avro contract: the entry
is written to the changelog on every join event and read back only when a worker recovers,
and its payload is one or two already-encoded Avro events. A ``faust.Record`` goes through
JSON, so the event bytes had to travel as base64 text; an Avro record would wrap bytes in
bytes and buy schema evolution the table does not need (entries live at most
``resolved_retention_s``, and a new layout gets a new format byte). A fixed ``struct``
header followed by the raw event bytes is one ``pack`` and one slice each way.

Layout (little-endian)::

    u8  format (FORMAT_V1)
    u8  done: 0 open, 1 reviewed, 2 unreviewed
    f64 seen: wall time (epoch seconds) the frame's first event arrived
    f64 at:   wall time it was resolved, NaN while open
    u32 detection length, NO_BYTES if absent
    u32 verdict length, NO_BYTES if absent
    ... detection bytes, then verdict bytes (single-object Avro, as consumed)

Changelogs written before this module held Faust's JSON of a dict ``{"d", "v", "seen",
"done", "at"}`` with base64 event bytes; :meth:`FrameEntry.from_bytes` still reads those (a
JSON object cannot start with the format byte), so a worker upgraded over an old changelog
recovers every entry.
"""

from __future__ import annotations

import base64
import json
import math
import struct
from dataclasses import dataclass
from typing import Any, Final, Literal

from streams.exceptions import StreamsError

__all__ = ["FORMAT_V1", "NO_BYTES", "Done", "FrameEntry", "FrameEntryError"]

Done = Literal["reviewed", "unreviewed"]

#: First byte of a v1 entry; never the first byte of the JSON entries written before it.
FORMAT_V1: Final[int] = 1
#: Length field of an absent event (an event of 4 GiB cannot be a Kafka message).
NO_BYTES: Final[int] = 0xFFFF_FFFF

_HEADER: Final[struct.Struct] = struct.Struct("<BBddII")
_DONE_CODES: Final[dict[Done | None, int]] = {None: 0, "reviewed": 1, "unreviewed": 2}
_DONE_NAMES: Final[dict[int, Done | None]] = {code: name for name, code in _DONE_CODES.items()}


class FrameEntryError(StreamsError):
    """Changelog bytes that are not a join entry of a known format (kept beside the entry
    rather than in :mod:`streams.exceptions`: only this module raises it)."""


@dataclass(frozen=True, slots=True)
class FrameEntry:
    """One frame in the join table.

    ``detection`` and ``verdict`` are the encoded events as consumed (single-object Avro),
    kept as bytes because that is what the changelog stores; the one that arrives second is
    decoded from the message, the stored one is decoded when the frame resolves. A resolved
    entry (``done`` set) keeps no events, only when it was resolved (``at``).
    """

    seen: float
    detection: bytes | None = None
    verdict: bytes | None = None
    done: Done | None = None
    at: float | None = None

    @classmethod
    def resolved(cls, done: Done, now: float) -> FrameEntry:
        """The entry that remembers a resolved frame (replay protection) until retention."""
        return cls(seen=now, done=done, at=now)

    def to_bytes(self) -> bytes:
        """The changelog bytes of this entry."""
        detection, verdict = self.detection, self.verdict
        header = _HEADER.pack(
            FORMAT_V1,
            _DONE_CODES[self.done],
            self.seen,
            math.nan if self.at is None else self.at,
            NO_BYTES if detection is None else len(detection),
            NO_BYTES if verdict is None else len(verdict),
        )
        return b"".join((header, detection or b"", verdict or b""))

    @classmethod
    def from_bytes(cls, data: bytes) -> FrameEntry:
        """The entry in changelog bytes: the v1 layout, or the JSON dict of older workers.

        Raises :class:`FrameEntryError` for anything else.
        """
        data = bytes(data)
        if data[:1] == b"{":
            return cls._from_json(data)
        if len(data) < _HEADER.size or data[0] != FORMAT_V1:
            raise FrameEntryError(f"not a join entry (first byte {data[:1]!r})")
        _, done, seen, at, detection_len, verdict_len = _HEADER.unpack_from(data)
        if done not in _DONE_NAMES:
            raise FrameEntryError(f"unknown resolution code {done}")
        start = _HEADER.size
        detection, start = _slice(data, start, detection_len)
        verdict, end = _slice(data, start, verdict_len)
        if end != len(data):
            raise FrameEntryError(f"join entry of {len(data)} bytes declares {end}")
        return cls(
            seen=seen,
            detection=detection,
            verdict=verdict,
            done=_DONE_NAMES[done],
            at=None if math.isnan(at) else at,
        )

    @classmethod
    def _from_json(cls, data: bytes) -> FrameEntry:
        try:
            entry: Any = json.loads(data)
            done = entry.get("done")
            seen = float(entry["seen"])
            at = None if entry.get("at") is None else float(entry["at"])
            detection, verdict = _unb64(entry.get("d")), _unb64(entry.get("v"))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise FrameEntryError(f"not a join entry in the JSON format: {exc}") from exc
        if done not in _DONE_CODES:
            raise FrameEntryError(f"unknown resolution {done!r}")
        return cls(seen=seen, detection=detection, verdict=verdict, done=done, at=at)


def _slice(data: bytes, start: int, length: int) -> tuple[bytes | None, int]:
    if length == NO_BYTES:
        return None, start
    end = start + length
    if end > len(data):
        raise FrameEntryError(f"join entry of {len(data)} bytes is cut short")
    return data[start:end], end


def _unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text, validate=True)

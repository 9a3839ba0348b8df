"""The report writer: every ``Detection`` of a DICOS scan of this checkpoint becomes a
Threat Detection Report in the scanner's outbox folder.

It runs beside the bridge on the scanner side, consumes ``detections`` through the shared
consume loop (:class:`schemas.consume.EventBatches`) and commits a batch only after its
reports are in the outbox, so a crash re-writes reports rather than losing them. A report is
named after the scan it answers, ``<scan's SOP Instance UID>.tdr.dcm``, and appears at once
complete (written aside, synced, then renamed): the scanner picks up the report of its scan
by name and never reads half a file. A replayed detection overwrites the same file.
Detections of frames that came from no DICOS scan (the PNG bridge, the simulator) or from
another checkpoint or lane are skipped. Dead-lettered instead of reported: a detection whose
scan identifiers are not DICOM UIDs (its UID would become a file name) and, with a producer
keyring, one no edge of this checkpoint tagged (:mod:`schemas.authenticity`): a forged
report would tell the scanner a bag is clear.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Final

from leakguard.health import Checks
from schemas.authenticity import AuthenticityError, EventKeyring
from schemas.codec import Codec
from schemas.consume import EventBatches
from schemas.events import Detection
from streams.dicos.common import is_uid
from streams.dicos.exceptions import DicosError
from streams.dicos.tdr import report_of, write_tdr

__all__ = ["REPORT_SUFFIX", "ReportWriter", "report_path"]

#: Suffix of a report file; the stem is the scanned object's SOP Instance UID.
REPORT_SUFFIX: Final = ".tdr.dcm"
#: Detections per poll and the longest a poll waits: a report is due while the bag is still
#: at the scanner, so batches stay small.
BATCH_MESSAGES: Final = 64
POLL_TIMEOUT_S: Final = 0.2


def report_path(outbox: Path, sop_instance_uid: str) -> Path:
    """Where the report of the scanned object ``sop_instance_uid`` is written."""
    if not is_uid(sop_instance_uid):
        raise DicosError(f"SOP Instance UID {sop_instance_uid[:80]!r} is not a DICOM UID")
    return outbox / f"{sop_instance_uid}{REPORT_SUFFIX}"


class ReportWriter:
    """Consumes ``topic`` (``Detection`` events) with ``consumer`` (auto-commit off) into
    TDR files under ``outbox`` for ``checkpoint`` (and ``lane``, when given)."""

    def __init__(
        self,
        *,
        consumer: Any,
        producer: Any,
        topic: str,
        dead_letter_topic: str,
        outbox: Path,
        checkpoint: str,
        lane: str | None = None,
        worker_id: str = "dicos-reports",
        codec: Codec | None = None,
        keyring: EventKeyring | None = None,
    ) -> None:
        self._batches = EventBatches(
            consumer=consumer,
            producer=producer,
            routes={topic: "Detection"},
            dead_letter_topic=dead_letter_topic,
            worker_id=worker_id,
            codec=codec,
            batch_messages=BATCH_MESSAGES,
            poll_timeout_s=POLL_TIMEOUT_S,
        )
        self._outbox = outbox
        self._checkpoint = checkpoint
        self._lane = lane
        self._keyring = keyring
        self.written = 0
        """Reports written since start."""

    def checks(self) -> Checks:
        """Health of the consuming loop (:meth:`schemas.consume.EventBatches.checks`)."""
        return self._batches.checks()

    def subscribe(self) -> None:
        """Join the consumer group on the detections topic."""
        self._batches.subscribe()

    def step(self) -> int:
        """Write the reports of one batch, then commit it; returns the reports written."""
        messages = self._batches.poll()
        written = 0
        for message in messages:
            event = self._batches.event(message)
            if not isinstance(event, Detection) or not self._ours(event):
                continue
            try:
                if self._keyring is not None:
                    self._keyring.verify(
                        "Detection", event.checkpoint, message.value(), message.headers()
                    )
                self._write(event)
            except (AuthenticityError, DicosError) as exc:
                self._batches.dead_letter(message, exc)
                continue
            written += 1
        if messages:
            self._batches.commit()
        self.written += written
        return written

    def run(self, stop: threading.Event) -> None:
        """Write reports until ``stop`` is set."""
        self.subscribe()
        try:
            while not stop.is_set():
                self.step()
        finally:
            self._batches.consumer.close()

    def _ours(self, detection: Detection) -> bool:
        return (
            detection.scan is not None
            and detection.checkpoint == self._checkpoint
            and (self._lane is None or detection.lane == self._lane)
        )

    def _write(self, detection: Detection) -> None:
        """The report, written aside and renamed into place once synced. An outbox that
        cannot be written raises ``OSError``: the batch stays uncommitted and is re-read."""
        report = report_of(detection)
        for uid in (
            report.study_instance_uid,
            report.referenced_series_instance_uid,
            report.referenced_sop_class_uid,
        ):
            if not is_uid(uid):
                raise DicosError(f"scan identifier {uid[:80]!r} is not a DICOM UID")
        target = report_path(self._outbox, report.referenced_sop_instance_uid)
        data = write_tdr(report)
        partial = target.with_name(f".{target.name}.partial")
        with partial.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        partial.replace(target)

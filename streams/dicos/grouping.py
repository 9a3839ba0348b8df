"""The views of one DICOS scan into one frame (#20).

A dual-view scanner writes one DICOS DX object per view, all of one Series Instance UID,
each with its own SOP Instance UID and View Name. Published one frame per file, an item
seen in both views would alarm twice; :class:`ScanViews` holds a scan's views until
``views_per_scan`` of them have arrived and returns them as one ``ScanFrame``: the ``top``
view (else the first to arrive) as its primary, so the frame id and ``scan`` are the
primary's, and the others in ``views``. A scan that stays incomplete for ``scan_timeout_s``
of its first file's modification time is published with the views it has, with a warning:
a missing view never costs the others and never stalls the folder. Measured from the file,
not from when this process read it, a restart does not extend the wait.

It is the folder loop's :class:`streams.sources.Grouping`: held files stay in the folder,
so a crash before the frame is published loses none of them.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from schemas.events import MAX_EXTRA_VIEWS, ScanFrame, ScanView
from streams.dicos.exceptions import DicosError
from streams.exceptions import StreamsConfigError
from streams.sources import ReadyFrame

__all__ = [
    "DEFAULT_SCAN_TIMEOUT_S",
    "MAX_VIEWS_PER_SCAN",
    "PRIMARY_VIEW",
    "ScanViews",
    "scan_frame",
]

log = logging.getLogger(__name__)

#: The view that leads a frame: the detector was trained on top views.
PRIMARY_VIEW: Final = "top"
#: How long a scan's first view waits for the others: a dual-view scanner writes its views
#: within a second or two of each other, and a bag must not wait long for its alarm.
DEFAULT_SCAN_TIMEOUT_S: Final[float] = 10.0
#: Most views one frame takes: the primary and the extra views an edge accepts.
MAX_VIEWS_PER_SCAN: Final[int] = 1 + MAX_EXTRA_VIEWS


def scan_frame(views: Sequence[ScanFrame]) -> ScanFrame:
    """One frame of the views of one scan, in order of arrival: the ``top`` view (else the
    first) is the primary, with its frame id, scanner and ``scan``; the others are its
    ``views``."""
    if not views:
        raise DicosError("a scan frame needs at least one view")
    primary = next((view for view in views if view.view_id == PRIMARY_VIEW), views[0])
    return dataclasses.replace(
        primary,
        views=tuple(
            ScanView(view_id=view.view_id, image=view.image)
            for view in views
            if view is not primary
        ),
    )


@dataclass
class _Scan:
    """The views of one scan taken so far, and when its first file was written."""

    first_mtime: float
    views: list[tuple[Path, ScanFrame]] = field(default_factory=list)


class ScanViews:
    """Groups the frames of a scan's view files by Series Instance UID (see the module).

    A frame without a scan reference is published alone. A view whose name the held views
    of its scan already have (a rescan, a scanner that names no views) publishes those as
    they are and starts the scan again, so a frame never carries one view name twice.
    """

    def __init__(
        self, *, views_per_scan: int, scan_timeout_s: float = DEFAULT_SCAN_TIMEOUT_S
    ) -> None:
        if not 1 <= views_per_scan <= MAX_VIEWS_PER_SCAN:
            raise StreamsConfigError(
                f"views per scan must be 1 to {MAX_VIEWS_PER_SCAN}, got {views_per_scan}"
            )
        if scan_timeout_s <= 0:
            raise StreamsConfigError(f"scan timeout must be positive, got {scan_timeout_s} s")
        self._views_per_scan = views_per_scan
        self._scan_timeout_s = scan_timeout_s
        self._scans: dict[str, _Scan] = {}

    def add(self, path: Path, frame: ScanFrame, *, mtime: float) -> list[ReadyFrame]:
        """Take one view; returns its scan's frame once it has all its views."""
        if frame.scan is None:
            return [ReadyFrame(frame, (path,))]
        key = frame.scan.series_instance_uid
        ready = []
        scan = self._scans.get(key)
        if scan is not None and any(view.view_id == frame.view_id for _, view in scan.views):
            log.warning(
                "scan %s has a second %r view (%s); publishing the views it had",
                key,
                frame.view_id,
                path.name,
            )
            ready.append(self._release(key))
            scan = None
        if scan is None:
            scan = self._scans[key] = _Scan(first_mtime=mtime)
        scan.views.append((path, frame))
        if len(scan.views) >= self._views_per_scan:
            ready.append(self._release(key))
        return ready

    def expire(self, *, now: float) -> list[ReadyFrame]:
        """The scans whose first view was written ``scan_timeout_s`` or more before ``now``."""
        late = [
            key
            for key, scan in self._scans.items()
            if now - scan.first_mtime >= self._scan_timeout_s
        ]
        for key in late:
            names = [view.view_id for _, view in self._scans[key].views]
            log.warning(
                "scan %s has %d of %d views after %.1f s; publishing it with %s",
                key,
                len(names),
                self._views_per_scan,
                self._scan_timeout_s,
                ", ".join(names),
            )
        return [self._release(key) for key in late]

    def held(self) -> Collection[Path]:
        """The view files of the scans still waiting for views."""
        return [path for scan in self._scans.values() for path, _ in scan.views]

    def _release(self, key: str) -> ReadyFrame:
        scan = self._scans.pop(key)
        return ReadyFrame(
            scan_frame([view for _, view in scan.views]),
            tuple(path for path, _ in scan.views),
        )

"""The DICOS scanner bridge: every ``*.dcm`` a scanner drops into a folder becomes a view
of a ``ScanFrame``: the pseudo-colour image of its two energy planes, with the scan's
identifiers. A single-view scanner's file is a frame; a multi-view scanner's views of one
scan are grouped into one frame (:mod:`streams.dicos.grouping`).

The folder loop is the PNG bridge's (:func:`streams.sources.watch_folder`): oldest first,
only files that have stopped changing, published files to ``done/``, files that are not a
readable DICOS scan to ``rejected/`` with the reason beside them, so one bad file never
blocks the folder and no file is published twice; a view waiting for the rest of its scan
stays in the folder until its frame is published. Reading a file is capped
(:data:`MAX_SCAN_BYTES`) and refuses anything but a regular file.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

from detector.datasets.coco import encode_png
from schemas.events import ScanFrame
from schemas.images import png_payload
from streams.dicos.common import read_capped
from streams.dicos.exceptions import DicosError
from streams.dicos.grouping import DEFAULT_SCAN_TIMEOUT_S, ScanViews
from streams.dicos.scan import MAX_SIDE_PX, display_image, read_scan
from streams.sources import WatchReport, watch_folder

__all__ = ["DICOS_PATTERN", "MAX_SCAN_BYTES", "frame_from_dicos", "watch_dicos_folder"]

#: The files the bridge takes; anything else in the folder is the scanner's business.
DICOS_PATTERN: Final = "*.dcm"
#: Two 16-bit planes of the largest accepted image, plus 1 MiB for the header: no larger
#: file can be a scan this bridge reads, so none is read further than this.
MAX_SCAN_BYTES: Final = 2 * MAX_SIDE_PX * MAX_SIDE_PX * 2 + 2**20


def frame_from_dicos(
    path: Path, *, checkpoint: str, lane: str, max_file_bytes: int = MAX_SCAN_BYTES
) -> ScanFrame:
    """The ``ScanFrame`` of the DICOS scan in ``path``: frame id ``checkpoint/lane/<SOP
    Instance UID>``, scanner id the Device Serial Number (``dicos`` without one), the view's
    name, and the scan's identifiers in ``scan``. Raises :class:`DicosError` (a
    ``SourceError``) for anything that is not such a scan."""
    data = read_capped(path, max_bytes=max_file_bytes)
    try:
        scan = read_scan(data)
    except DicosError as exc:
        raise DicosError(f"{path.name}: {exc}") from exc
    return ScanFrame(
        checkpoint=checkpoint,
        lane=lane,
        frame_id=f"{checkpoint}/{lane}/{scan.sop_instance_uid}",
        scanner_id=scan.device_serial_number or "dicos",
        view_id=scan.view,
        image=png_payload(encode_png(display_image(scan))),
        scan=scan.reference(),
    )


def watch_dicos_folder(
    folder: Path,
    *,
    checkpoint: str,
    lane: str,
    publish: Callable[[ScanFrame], None],
    max_file_bytes: int = MAX_SCAN_BYTES,
    views_per_scan: int = 1,
    scan_timeout_s: float = DEFAULT_SCAN_TIMEOUT_S,
    poll_s: float = 0.5,
    should_stop: Callable[[], bool] = lambda: False,
    clock: Callable[[], float] = time.time,
) -> WatchReport:
    """Publish every ``*.dcm`` scan that appears in ``folder`` until ``should_stop``, one
    frame per ``views_per_scan`` views of a series (fewer after ``scan_timeout_s``)."""
    return watch_folder(
        folder,
        checkpoint=checkpoint,
        lane=lane,
        publish=publish,
        poll_s=poll_s,
        should_stop=should_stop,
        clock=clock,
        pattern=DICOS_PATTERN,
        grouping=ScanViews(views_per_scan=views_per_scan, scan_timeout_s=scan_timeout_s),
        write_reasons=True,
        read=functools.partial(
            frame_from_dicos, checkpoint=checkpoint, lane=lane, max_file_bytes=max_file_bytes
        ),
    )

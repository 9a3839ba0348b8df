"""Simulated scans in the scanner's own form: the simulator's two energy planes as DICOS
files, so the DICOS bridge is exercised end to end without a scanner.

Identifiers are derived from ``(seed, index)`` like the images themselves, so the same call
writes the same study, series and SOP Instance UIDs; acquisition time is the clock's. A
dual-view scan is one file per view (the side view from :mod:`detector.sim.side_view`),
all of the scan's study and series, each with its own SOP Instance UID and View Name.
Files appear complete (written under a name the bridge ignores, then renamed).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from detector.sim.scenes import ScenePreset
from detector.sim.side_view import simulate_side
from detector.sim.simulate import simulate
from detector.sim.stream import ViewName
from streams.dicos.common import uid_from_uuid
from streams.dicos.scan import DualEnergyScan, write_scan

__all__ = ["simulated_scan", "write_simulated_scans"]

#: Names the simulated scans' UIDs (UUIDv5 of ``seed/index/<level>`` in this namespace).
_UID_NAMESPACE: Final = uuid.UUID("5d0b3c8e-2f7a-5a41-8e6b-6c65616b6775")


def _uid(seed: int, index: int, level: str) -> str:
    return uid_from_uuid(uuid.uuid5(_UID_NAMESPACE, f"{seed}/{index}/{level}"))


def simulated_scan(
    preset: ScenePreset,
    *,
    seed: int,
    index: int,
    size_px: int = 640,
    device_serial_number: str = "leakguard-sim",
    acquired_at: datetime | None = None,
    view: ViewName = "top",
) -> DualEnergyScan:
    """The simulator's image ``(seed, index)`` seen from ``view`` as a dual-energy scan with
    its own UIDs (the top view's SOP Instance UID is the one a single-view scan has)."""
    render = simulate if view == "top" else simulate_side
    image = render(preset, seed=seed, index=index, width_px=size_px, height_px=size_px)
    raw = image.raw_uint16()  # (H, W, 2): low, then high energy
    return DualEnergyScan(
        high=raw[..., 1],
        low=raw[..., 0],
        study_instance_uid=_uid(seed, index, "study"),
        series_instance_uid=_uid(seed, index, "series"),
        sop_instance_uid=_uid(seed, index, "image" if view == "top" else f"image/{view}"),
        device_serial_number=device_serial_number,
        acquired_at=acquired_at if acquired_at is not None else datetime.now(UTC),
        view=view,
    )


def write_simulated_scans(
    folder: Path,
    preset: ScenePreset,
    *,
    count: int,
    seed: int = 0,
    start: int = 0,
    size_px: int = 640,
    device_serial_number: str = "leakguard-sim",
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    views: Sequence[ViewName] = ("top",),
) -> Iterator[Path]:
    """Write scans ``start .. start + count - 1`` into ``folder``, one file per view of
    ``views`` in that order, yielding each file: ``scan-<seed>-<index>.dcm`` for the top
    view, ``scan-<seed>-<index>-<view>.dcm`` for the others."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(start, start + count):
        acquired_at = clock()
        for view in views:
            scan = simulated_scan(
                preset,
                seed=seed,
                index=index,
                size_px=size_px,
                device_serial_number=device_serial_number,
                acquired_at=acquired_at,
                view=view,
            )
            suffix = "" if view == "top" else f"-{view}"
            target = folder / f"scan-{seed}-{index:06d}{suffix}.dcm"
            partial = folder / f".{target.name}.partial"
            partial.write_bytes(write_scan(scan))
            partial.replace(target)
            yield target

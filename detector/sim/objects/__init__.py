"""Object models of the labelled kinds, one module per family.

:data:`MEDIA_KINDS` lists every labelled subtype: the eight storage-media classes plus the
``others`` look-alikes (power banks, portable fans). Unlabelled clutter lives in
:mod:`detector.sim.clutter`.
"""

from __future__ import annotations

from typing import Final

from detector.sim.objects import drives, handheld, laptop, others, small_media
from detector.sim.objects.common import Builder, ObjectKind

MEDIA_KINDS: Final[tuple[ObjectKind, ...]] = (
    *drives.KINDS,
    *handheld.KINDS,
    *small_media.KINDS,
    *laptop.KINDS,
    *others.KINDS,
)

__all__ = ["MEDIA_KINDS", "Builder", "ObjectKind"]

"""Threat image projection at the edge: which frames carry a projected medium, and the
projection itself (#20).

An edge with TIP rates projects a simulated storage medium into a share of each lane's
frames before detection, so the detector and the guard see the same image. Whether a frame
is projected, which medium and where all come from one random stream seeded by the
frame's checkpoint, lane and id: a replayed or redelivered frame gets the same projection
(and the same ``projection_id``), so the join and the analytics deduplicate it like any
event. The rendering is the simulator's (:func:`detector.sim.projection.project_medium`),
imported only when a rate is set: an edge without TIP needs no physics packages.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

import numpy as np

from detector.exceptions import SimulationError
from leakguard.classes import CLASS_IDS, CLASS_NAMES
from schemas.events import Box, ObjectClassName, ScanFrame, TipProjection
from streams.exceptions import StreamsConfigError

__all__ = ["TIP_NAMESPACE", "TipProjector", "TipRates", "projection_id"]

log = logging.getLogger(__name__)

#: Namespace of the deterministic projection ids (UUIDv5). Never change it: a replayed
#: frame must keep its projection id, which the TIP results are deduplicated on.
TIP_NAMESPACE: Final[uuid.UUID] = uuid.UUID("0b7e4a39-5f2c-5d61-9a8e-7469702d6c67")
#: The wildcard of a rate's checkpoint or lane.
ANY: Final[str] = "*"


def projection_id(*, checkpoint: str, lane: str, frame_id: str) -> uuid.UUID:
    """The id of the projection on one frame: frame ids are unique only per lane."""
    return uuid.uuid5(TIP_NAMESPACE, "\x1f".join((checkpoint, lane, frame_id)))


def _rate(spec: str, text: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        raise StreamsConfigError(f"TIP rate {spec!r}: {text!r} is no number") from None
    if not 0.0 <= rate <= 1.0:
        raise StreamsConfigError(f"TIP rate {spec!r}: the rate must be within [0, 1]")
    return rate


@dataclass(frozen=True, slots=True)
class TipRates:
    """The share of frames projected per lane, by ``checkpoint/lane`` key: an exact lane
    wins over ``checkpoint/*``, which wins over ``*`` (every lane); unnamed lanes get 0."""

    rates: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def parse(cls, specs: Iterable[str]) -> TipRates:
        """Rates from ``CHECKPOINT/LANE=RATE``, ``CHECKPOINT/*=RATE`` or ``*=RATE`` specs
        (the ``--tip-rate`` option); :class:`StreamsConfigError` names a bad one."""
        rates: dict[str, float] = {}
        for spec in specs:
            key, sep, value = spec.partition("=")
            key = key.strip()
            checkpoint, slash, lane = key.partition("/")
            if not sep or not key or (key != ANY and (not slash or not checkpoint or not lane)):
                raise StreamsConfigError(
                    f"TIP rate {spec!r} is not CHECKPOINT/LANE=RATE, CHECKPOINT/*=RATE or *=RATE"
                )
            if key in rates:
                raise StreamsConfigError(f"TIP rate for {key!r} given twice")
            rates[key] = _rate(spec, value.strip())
        return cls(MappingProxyType(rates))

    def rate(self, checkpoint: str, lane: str) -> float:
        """The share of this lane's frames that carry a projection."""
        for key in (f"{checkpoint}/{lane}", f"{checkpoint}/{ANY}", ANY):
            if key in self.rates:
                return self.rates[key]
        return 0.0

    def __bool__(self) -> bool:
        return any(rate > 0 for rate in self.rates.values())


def _frame_rng(frame: ScanFrame, seed: int) -> np.random.Generator:
    """The frame's own random stream: from the seed and the frame's identity only."""
    name = "\x1f".join((frame.checkpoint, frame.lane, frame.frame_id)).encode()
    digest = int.from_bytes(hashlib.sha256(name).digest()[:8], "little")
    return np.random.default_rng(np.random.SeedSequence([seed, digest]))


class TipProjector:
    """Decides per frame and projects; ``seed`` varies the projections of a whole site."""

    def __init__(self, *, rates: TipRates, seed: int = 0) -> None:
        try:
            from detector.sim.projection import project_medium
        except ImportError as exc:
            raise StreamsConfigError(
                f"TIP needs the simulator's physics ({exc.name} is missing): "
                "pip install 'leakguard[sim]'"
            ) from exc
        self._project = project_medium
        self.rates = rates
        self.seed = seed

    def project(self, frame: ScanFrame, rgb: np.ndarray) -> tuple[np.ndarray, TipProjection] | None:
        """``rgb`` (H, W, 3) uint8 with a medium in it and the projection's record, or None
        when this frame is not drawn for TIP or cannot take a medium (too small: it is then
        detected as scanned, never lost to the test). Blocking: call it off the event loop."""
        rate = self.rates.rate(frame.checkpoint, frame.lane)
        if rate <= 0.0:
            return None  # most lanes: no random stream to seed per frame
        rng = _frame_rng(frame, self.seed)
        if rng.random() >= rate:
            return None
        try:
            projected = self._project(rgb, rng=rng)
        except SimulationError as exc:
            log.warning("frame %s left without a TIP projection: %s", frame.frame_id[:200], exc)
            return None
        x1, y1, x2, y2 = projected.box_xyxy
        record = TipProjection(
            projection_id=projection_id(
                checkpoint=frame.checkpoint, lane=frame.lane, frame_id=frame.frame_id
            ),
            class_name=_class_name(projected.class_name),
            subtype=projected.subtype,
            box=Box(x1=round(x1, 2), y1=round(y1, 2), x2=round(x2, 2), y2=round(y2, 2)),
        )
        return projected.rgb, record


def _class_name(name: str) -> ObjectClassName:
    """``name`` as the event's class type: the projectable kinds are storage media, whose
    names are ``ObjectClass`` symbols."""
    return CLASS_NAMES[CLASS_IDS[name]]

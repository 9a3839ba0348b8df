"""Training scenes rendered on the fly from ``(seed, index)`` instead of read from disk.

Rendering a 640 px scene costs 20-30 ms, under a tenth of a CPU training step, so a run
can draw a new scene for every sample: it never sees an image twice, needs no disk, and
stays deterministic and resumable because scene ``index`` of ``seed`` is always the same
image. A :class:`SceneMix` says which simulator presets to draw from and how often, so a
run trains on what the detector will meet (cluttered bags, not only media alone).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

import numpy as np
from torch.utils.data import Dataset

from detector.exceptions import DatasetError
from detector.sim.scenes import get_preset
from detector.sim.simulate import simulate
from detector.training.dataset import Sample, boxes_and_labels, to_tensor

__all__ = ["DEFAULT_SCENE_MIX", "SceneMix", "SimulatedScenes", "parse_scene_mix"]

#: Half cluttered bags (the test condition: pens, wallets, cables and keys are the
#: confusers), the rest plain bags and media alone, whose clean views teach the shapes.
DEFAULT_SCENE_MIX: Final = MappingProxyType({"cluttered": 0.5, "bag": 0.3, "alone": 0.2})


@dataclass(frozen=True)
class SceneMix:
    """Simulator presets and their shares of the drawn scenes (shares sum to 1)."""

    shares: Mapping[str, float]

    def __post_init__(self) -> None:
        if not self.shares:
            raise DatasetError("a scene mix needs at least one preset")
        for name, share in self.shares.items():
            get_preset(name)
            if not share > 0:
                raise DatasetError(f"scene mix share of {name!r} must be > 0, got {share}")
        total = sum(self.shares.values())
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise DatasetError(f"scene mix shares must sum to 1, got {total:g}")

    def describe(self) -> str:
        """``cluttered=0.5,bag=0.3,alone=0.2``: the form :func:`parse_scene_mix` reads."""
        return ",".join(f"{name}={share:g}" for name, share in self.shares.items())


def parse_scene_mix(text: str) -> SceneMix:
    """Read ``preset=share,preset=share,...`` (e.g. ``cluttered=0.5,bag=0.3,alone=0.2``)."""
    shares: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        try:
            shares[name.strip()] = float(value) if sep else math.nan
        except ValueError:
            raise DatasetError(f"scene mix item {item!r} is not preset=share") from None
        if not sep:
            raise DatasetError(f"scene mix item {item!r} is not preset=share")
    return SceneMix(shares)


class SimulatedScenes(Dataset[Sample]):
    """``length`` scenes of ``seed``; scene ``index`` draws its preset from ``mix`` and is
    rendered by :func:`detector.sim.simulate.simulate` with ``(seed, index)``.

    Samples are as :class:`~detector.training.dataset.Sample` (``[3, H, W]`` float in
    ``[0, 1]``, boxes ``x1, y1, x2, y2`` px, class ids); ``image_id`` is ``index``.
    """

    def __init__(
        self, mix: SceneMix, *, seed: int, length: int, width_px: int = 640, height_px: int = 640
    ) -> None:
        if length < 1:
            raise DatasetError("a simulated training set needs length >= 1")
        self.mix, self.seed, self.length = mix, seed, length
        self.width_px, self.height_px = width_px, height_px
        self._names = list(mix.shares)
        self._cumulative = np.cumsum([mix.shares[n] for n in self._names])

    def __len__(self) -> int:
        return self.length

    def preset_name(self, index: int) -> str:
        """The preset scene ``index`` is drawn from (a pure function of seed and index)."""
        draw = np.random.default_rng([self.seed, index]).random() * self._cumulative[-1]
        return self._names[min(int(np.searchsorted(self._cumulative, draw)), len(self._names) - 1)]

    def __getitem__(self, index: int) -> Sample:
        if not 0 <= index < self.length:
            raise IndexError(index)
        image = simulate(
            get_preset(self.preset_name(index)),
            seed=self.seed,
            index=index,
            width_px=self.width_px,
            height_px=self.height_px,
        )
        boxes, labels = boxes_and_labels(image.objects)
        return Sample(to_tensor(image.rgb), boxes, labels, index)

"""Helpers for simulator tests: single-material scenes rendered without noise."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from detector.sim.display import MATERIAL_CLASSES, classify_rgb, pseudo_colour
from detector.sim.render import transmissions
from detector.sim.scenes import PlacedObject, SceneLayout
from detector.sim.shapes import Part, Pose, box

SIZE_PX = 64


def plate_layout(parts: list[Part]) -> SceneLayout:
    """A 64x64 px layout (1 mm/px) holding ``parts`` centred, unlabelled."""
    obj = PlacedObject("test", None, tuple(parts), Pose(32.0, 32.0), (0.0, 0.0, 64.0, 64.0))
    return SceneLayout(SIZE_PX, SIZE_PX, 1.0, (obj,))


def centre_transmission(parts: list[Part]) -> npt.NDArray[np.float32]:
    """Noiseless (low, high) transmission at the image centre."""
    return transmissions(plate_layout(parts))[:, 32, 32]


def display_class(material: str, thickness_mm: float) -> str:
    """Display class of the centre pixel of a 40 mm square plate of ``material``."""
    rgb = pseudo_colour(transmissions(plate_layout([box(material, 40, 40, thickness_mm)])))
    return MATERIAL_CLASSES[int(classify_rgb(rgb)[32, 32])]


@pytest.fixture
def classify() -> Callable[[str, float], str]:
    """The display class of a plate of a material and thickness."""
    return display_class


@pytest.fixture
def centre() -> Callable[[list[Part]], npt.NDArray[np.float32]]:
    """Noiseless (low, high) transmission at the centre of a scene of parts."""
    return centre_transmission


@pytest.fixture
def layout_of() -> Callable[[list[Part]], SceneLayout]:
    """A 64x64 px, 1 mm/px layout of parts centred in the image."""
    return plate_layout

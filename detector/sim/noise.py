"""Detector effects that keep simulated images from being clean: quantum noise, line-scan
blur, per-row gain and offset.

A baggage scanner is a line scanner: one column of detector pixels (image rows here) reads
the belt as it moves (along image columns). Hence blur is stronger along the scan direction
(belt motion and integration time) than across it (scintillator crosstalk), and gain/offset
errors repeat along each detector row, giving faint streaks as on real scans.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]

#: Photons per pixel reaching an unattenuated detector: ~0.7 % noise on an empty belt.
DEFAULT_PHOTONS: Final[float] = 20000.0
#: Smallest transmission a detector reports: its dark-current floor.
MIN_TRANSMISSION: Final[float] = 1e-4


@dataclass(frozen=True)
class DetectorModel:
    """Noise and blur settings; the defaults resemble a 140 kVp cabin-baggage scanner."""

    photons: float = DEFAULT_PHOTONS
    #: 3-tap blur weight of each neighbour along the scan direction and across it.
    scan_blur: float = 0.25
    cross_blur: float = 0.12
    #: Standard deviations of per-row gain, per-row offset and whole-image gain.
    row_gain_sd: float = 0.006
    row_offset_sd: float = 0.002
    global_gain_sd: float = 0.015


def _blur3(image: FloatArray, weight: float, axis: int) -> FloatArray:
    """3-tap [w, 1 - 2w, w] blur along ``axis`` with edge replication."""
    if weight <= 0:
        return image
    padded = np.pad(
        image, [(1, 1) if a == axis else (0, 0) for a in range(image.ndim)], mode="edge"
    )
    n = image.shape[axis]
    lo = np.take(padded, np.arange(0, n), axis=axis)
    hi = np.take(padded, np.arange(2, n + 2), axis=axis)
    out: FloatArray = image * np.float32(1 - 2 * weight) + (lo + hi) * np.float32(weight)
    return out


def apply_detector(
    channels: FloatArray, *, rng: np.random.Generator, model: DetectorModel | None = None
) -> FloatArray:
    """Add noise, blur and gain/offset to noiseless transmissions.

    ``channels`` has shape (2, H, W), values in (0, 1] (low, high energy); the result has the
    same shape and is clipped to [MIN_TRANSMISSION, 1].
    """
    m = model if model is not None else DetectorModel()
    _, height, _ = channels.shape
    sigma = np.sqrt(channels / np.float32(m.photons))
    noisy = channels + sigma * rng.standard_normal(channels.shape, dtype=np.float32)
    noisy = _blur3(_blur3(noisy, m.scan_blur, axis=2), m.cross_blur, axis=1)
    gain = 1 + rng.normal(0, m.row_gain_sd, (2, height, 1)) + rng.normal(0, m.global_gain_sd)
    offset = rng.normal(0, m.row_offset_sd, (2, height, 1))
    noisy = noisy * gain.astype(np.float32) + offset.astype(np.float32)
    return np.clip(noisy, MIN_TRANSMISSION, 1.0).astype(np.float32, copy=False)

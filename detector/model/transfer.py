"""Start a model from a trained one of another anchor set.

Anchors change only the width of the head's two output convolutions (anchors per location x
classes, and x 4 box offsets); the backbone, the FPN and the heads' towers keep their shapes
and what they learnt. A new anchor set therefore need not start from ImageNet: every weight
whose name and shape agree is copied, and the two output layers start as a new model's do
(torchvision's initialisation, the classification bias at the prior probability).
"""

from __future__ import annotations

from typing import Final

from torch import nn

from detector.model.presets import DetectorPreset

__all__ = ["ANCHOR_FIELDS", "differs_only_in_anchors", "init_from"]

#: The preset fields that describe anchors and nothing else.
ANCHOR_FIELDS: Final[tuple[str, ...]] = ("anchor_sizes", "anchor_scales", "aspect_ratios")


def differs_only_in_anchors(source: DetectorPreset, target: DetectorPreset) -> bool:
    """Whether ``target`` is ``source`` with other anchors (or the same), whatever its name."""
    ignored = {"name", *ANCHOR_FIELDS}
    rest = [{k: v for k, v in p.to_dict().items() if k not in ignored} for p in (source, target)]
    return rest[0] == rest[1]


def init_from(target: nn.Module, source: nn.Module) -> tuple[str, ...]:
    """Copy ``source``'s weights into ``target`` wherever name and shape agree; returns the
    names of the tensors left as ``target`` had them (empty when every one was copied)."""
    weights = source.state_dict()
    own = target.state_dict()
    fresh = tuple(
        name for name, t in own.items() if name not in weights or weights[name].shape != t.shape
    )
    target.load_state_dict({name: weights[name] for name in own if name not in fresh}, strict=False)
    return fresh

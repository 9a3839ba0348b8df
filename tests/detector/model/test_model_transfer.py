"""Starting a model from one of another anchor set: all but the head's output layers carry
over, and presets that differ in more than anchors are told apart."""

from __future__ import annotations

import dataclasses

import torch

from detector.model import build_retinanet, get_preset
from detector.model.transfer import differs_only_in_anchors, init_from

TINY = get_preset("tiny")
#: The tiny preset with two sizes per octave instead of one: twice the anchors per location.
TINY_TWO_SCALES = dataclasses.replace(TINY, anchor_scales=(1.0, 2**0.5))
OUTPUT_LAYERS = {
    "head.classification_head.cls_logits.weight",
    "head.classification_head.cls_logits.bias",
    "head.regression_head.bbox_reg.weight",
    "head.regression_head.bbox_reg.bias",
}


def test_only_the_heads_output_layers_start_fresh() -> None:
    torch.manual_seed(0)
    source = build_retinanet(TINY)
    torch.manual_seed(1)
    target = build_retinanet(TINY_TWO_SCALES)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    fresh = init_from(target, source)
    assert set(fresh) == OUTPUT_LAYERS
    copied, kept = source.state_dict(), target.state_dict()
    for name, tensor in kept.items():
        if name in OUTPUT_LAYERS:
            assert torch.equal(tensor, before[name]), name
        else:
            assert torch.equal(tensor, copied[name]), name


def test_the_same_anchors_copy_every_weight() -> None:
    source, target = build_retinanet(TINY), build_retinanet(TINY)
    assert init_from(target, source) == ()
    assert all(torch.equal(v, source.state_dict()[k]) for k, v in target.state_dict().items())


def test_presets_that_differ_in_more_than_anchors_are_told_apart() -> None:
    assert differs_only_in_anchors(TINY, TINY)
    assert differs_only_in_anchors(TINY, TINY_TWO_SCALES)
    assert differs_only_in_anchors(TINY, dataclasses.replace(TINY_TWO_SCALES, name="tiny-2"))
    assert not differs_only_in_anchors(TINY, dataclasses.replace(TINY, fpn_channels=16))
    assert not differs_only_in_anchors(TINY, get_preset("edge"))

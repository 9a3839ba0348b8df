"""Presets: JSON round trip, validation, and the built model's shape contract."""

from __future__ import annotations

import pytest
import torch

from detector.exceptions import ModelConfigError
from detector.model import MODEL_NUM_CLASSES, PRESETS, DetectorPreset, build_retinanet, get_preset
from leakguard.classes import NUM_CLASSES


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_round_trips_through_json_form(name: str) -> None:
    preset = get_preset(name)
    assert DetectorPreset.from_dict(preset.to_dict()) == preset


def test_unknown_preset_and_bad_values_are_refused() -> None:
    with pytest.raises(ModelConfigError, match="unknown preset"):
        get_preset("huge")
    data = get_preset("tiny").to_dict()
    with pytest.raises(ModelConfigError, match="anchor sizes"):
        DetectorPreset.from_dict({**data, "anchor_sizes": [16]})
    with pytest.raises(ModelConfigError, match="unknown preset keys"):
        DetectorPreset.from_dict({**data, "colour": "red"})


def test_smallest_anchor_suits_sd_cards() -> None:
    for preset in PRESETS.values():
        assert min(preset.anchor_sizes) <= 16


def test_tiny_model_predicts_shared_class_ids_in_input_pixels() -> None:
    torch.manual_seed(0)
    model = build_retinanet(get_preset("tiny"))
    # Bias the classifier towards class 6 so there is something to decode.
    model.head.classification_head.cls_logits.bias.data[:] = -5.0
    model.head.classification_head.cls_logits.bias.data[6::MODEL_NUM_CLASSES] = 3.0
    model.eval()
    with torch.inference_mode():
        (out,) = model([torch.rand(3, 90, 200)])
    assert MODEL_NUM_CLASSES == NUM_CLASSES + 1
    assert out["labels"].numel() > 0
    assert set(out["labels"].tolist()) == {6}
    assert float(out["boxes"][:, 2].max()) <= 200 + 1e-3
    assert float(out["boxes"][:, 3].max()) <= 90 + 1e-3

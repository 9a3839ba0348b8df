"""The drift confuser (metal bag decorations shaped like phones) and the drift scenarios."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from detector.datasets.coco import read_dataset
from detector.exceptions import SimulationError
from detector.sim.drift import DRIFTS, drifted, get_drift
from detector.sim.objects.handheld import phone
from detector.sim.objects.others import phone_decoration
from detector.sim.render import transmissions
from detector.sim.scenes import (
    PRESETS,
    PlacedObject,
    SceneLayout,
    default_registry,
    get_preset,
)
from detector.sim.shapes import Part, Pose
from detector.sim.simulate import scene_layout, simulate
from infra.commands.data import app as data_app
from leakguard.classes import CLASS_IDS

DECORATION = "phone_decoration"
SEEDS = range(8)


def _mean_attenuation_high(parts: list[Part]) -> float:
    """Mean -ln T (high energy) over the middle 60 x 30 mm of an object lying flat."""
    obj = PlacedObject("test", None, tuple(parts), Pose(100.0, 100.0), (0.0, 0.0, 200.0, 200.0))
    raw = transmissions(SceneLayout(200, 200, 1.0, (obj,)))
    return float(-np.log(raw[1, 70:130, 85:115]).mean())


def test_decoration_is_phone_sized_thin_metal_without_cell_or_board() -> None:
    for seed in SEEDS:
        parts = phone_decoration(np.random.default_rng(seed))
        materials = {p.material for p in parts}
        assert materials <= {"steel", "aluminium", "copper", "leather"}, materials
        rim = parts[0]
        assert rim.profile == "frame"
        assert 60.0 <= rim.width_mm <= 78.0
        assert 120.0 <= rim.height_mm <= 160.0
        decoration = _mean_attenuation_high(parts)
        real_phone = _mean_attenuation_high(phone(np.random.default_rng(seed)))
        assert decoration < 0.75 * real_phone, (seed, decoration, real_phone)


def test_decoration_is_labelled_others_and_in_no_preset_by_default() -> None:
    kind = default_registry().get(DECORATION)
    assert kind.class_name == "others"
    for preset in PRESETS.values():
        assert DECORATION not in preset.media_weights
        assert DECORATION not in preset.clutter_weights


def test_drift_puts_labelled_decorations_on_top_of_the_clutter() -> None:
    base = get_preset("cluttered")
    preset = drifted(base, "phone-decoration")
    assert preset.name == "cluttered+phone-decoration"
    assert preset.media_weights == base.media_weights
    counts: Counter[str] = Counter()
    for index in range(200):
        for obj in scene_layout(
            preset, seed=11, index=index, width_px=320, height_px=320
        ).labelled():
            counts[obj.subtype] += 1
            if obj.subtype == DECORATION:
                assert obj.class_id == CLASS_IDS["others"]
    # 0.83 expected per image (weight 1.2 of 14.5, 10 clutter objects on average), some
    # dropped at the image border.
    assert 100 <= counts[DECORATION] <= 200, counts[DECORATION]
    undrifted = Counter(
        o.subtype
        for index in range(200)
        for o in scene_layout(base, seed=11, index=index, width_px=320, height_px=320).labelled()
    )
    assert undrifted[DECORATION] == 0


def test_drifted_image_carries_the_decoration_in_its_ground_truth() -> None:
    preset = drifted(get_preset("bag"), "phone-decoration")
    found = [
        o
        for index in range(12)
        for o in simulate(preset, seed=3, index=index, width_px=160, height_px=160).objects
        if o.subtype == DECORATION
    ]
    assert found
    assert all(o.class_name == "others" for o in found)


def test_drift_refuses_presets_without_clutter_and_unknown_names() -> None:
    with pytest.raises(SimulationError, match="alone"):
        drifted(get_preset("alone"), "phone-decoration")
    with pytest.raises(SimulationError, match="phone-decoration"):
        get_drift("vapes")
    assert drifted(get_preset("bag"), None) is get_preset("bag")
    assert get_drift("phone-decoration").subtypes == frozenset({DECORATION})
    assert set(DRIFTS) == {"phone-decoration"}


def test_data_generate_with_drift_writes_labelled_decorations(tmp_path: Path) -> None:
    out = tmp_path / "drifted"
    args = "generate --preset bag --n 6 --size 160 --workers 1 --drift phone-decoration"
    result = CliRunner().invoke(data_app, [*args.split(), "--out", str(out)])
    assert result.exit_code == 0, result.output
    dataset = read_dataset(out)
    subtypes = Counter(o.subtype for record in dataset for o in record.objects)
    assert subtypes[DECORATION] > 0
    refused = CliRunner().invoke(
        data_app, ["generate", "--out", str(tmp_path / "x"), "--drift", "vapes", "--n", "1"]
    )
    assert refused.exit_code == 2  # a usage error, listing the choices
    assert "phone-decoration" in refused.output

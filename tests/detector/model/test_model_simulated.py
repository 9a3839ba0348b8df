"""Scenes rendered on the fly: deterministic per (seed, index), drawn in the mix's shares,
and a training run that reads them instead of a data set on disk."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import torch

from detector.exceptions import DatasetError, SimulationError
from detector.model import get_preset
from detector.training import TrainConfig
from detector.training.run import run_training
from detector.training.simulated import (
    DEFAULT_SCENE_MIX,
    SceneMix,
    SimulatedScenes,
    parse_scene_mix,
)


def test_a_scene_is_a_pure_function_of_seed_and_index() -> None:
    scenes = SimulatedScenes(
        SceneMix(DEFAULT_SCENE_MIX), seed=3, length=10, width_px=160, height_px=160
    )
    a, b = scenes[4], scenes[4]
    torch.testing.assert_close(a.image, b.image)
    torch.testing.assert_close(a.boxes, b.boxes)
    assert a.image.shape == (3, 160, 160)
    assert a.image_id == 4
    assert not torch.equal(a.image, scenes[5].image)
    assert not torch.equal(
        a.image,
        SimulatedScenes(
            SceneMix(DEFAULT_SCENE_MIX), seed=4, length=10, width_px=160, height_px=160
        )[4].image,
    )
    with pytest.raises(IndexError):
        scenes[10]


def test_presets_are_drawn_in_their_shares() -> None:
    scenes = SimulatedScenes(
        parse_scene_mix("cluttered=0.5,bag=0.3,alone=0.2"), seed=0, length=4000
    )
    counts = Counter(scenes.preset_name(i) for i in range(4000))
    assert counts["cluttered"] / 4000 == pytest.approx(0.5, abs=0.03)
    assert counts["bag"] / 4000 == pytest.approx(0.3, abs=0.03)
    assert counts["alone"] / 4000 == pytest.approx(0.2, abs=0.03)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cluttered=0.5,bag=0.4", "sum to 1"),
        ("cluttered", "preset=share"),
        ("cluttered=half,bag=0.5", "preset=share"),
        ("cluttered=1.2,bag=-0.2", "must be > 0"),
        ("", "at least one preset"),
    ],
)
def test_a_bad_mix_is_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        parse_scene_mix(text)


def test_an_unknown_preset_in_a_mix_is_refused() -> None:
    with pytest.raises(SimulationError, match="nope"):
        parse_scene_mix("nope=1")


def test_a_mix_reads_back_from_its_description() -> None:
    mix = SceneMix(DEFAULT_SCENE_MIX)
    assert parse_scene_mix(mix.describe()) == mix


def test_a_run_trains_on_rendered_scenes_and_records_them(tmp_path: Path) -> None:
    outcome = run_training(
        preset=get_preset("tiny"),
        data_dirs=[],
        out_dir=tmp_path / "run",
        config=TrainConfig(steps=2, batch_size=2, warmup_steps=1, augment=False),
        scene_mix=parse_scene_mix("alone=1"),
        scene_seed=7,
    )
    card = json.loads((outcome.artifact_dir / "model_card.json").read_text())
    assert card["training"]["scene_mix"] == "alone=1"
    assert card["training"]["scene_seed"] == "7"
    assert card["training"]["steps"] == 2

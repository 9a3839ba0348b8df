"""Several evaluation sets scored as one: the union of split sets scores as the whole did."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from torchvision.models.detection.retinanet import RetinaNet
from typer.testing import CliRunner

from detector.artifacts import save_artifact
from detector.evaluation import build_report, evaluate_coco
from detector.evaluation.runner import evaluate_sets
from detector.evaluation.sets import ScoredSet, combine_sets, set_names
from detector.exceptions import EvaluationError
from detector.model import get_preset
from detector.training.dataset import CocoDetectionDirectory
from infra.commands.model import eval_command, train_command
from leakguard.classes import alarm_thresholds
from tests.detector.model.conftest import SCENES, write_dataset

WHOLE = {
    "images": [{"id": i, "width": 100, "height": 100, "file_name": f"{i}.png"} for i in (1, 2, 3)],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20]},
        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [50, 50, 20, 20]},
        {"id": 3, "image_id": 2, "category_id": 6, "bbox": [5, 5, 10, 10]},
    ],
}
DETECTIONS = [
    {"image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "score": 0.9},
    {"image_id": 3, "category_id": 1, "bbox": [60, 60, 20, 20], "score": 0.8},
    {"image_id": 1, "category_id": 1, "bbox": [50, 50, 20, 20], "score": 0.7},
]


def _split() -> list[ScoredSet]:
    """``WHOLE`` as two sets, each numbered from 1 as generated sets are: images 1-2 with
    media, and the clean image 3 as the second set's image 1."""
    media = {
        "images": WHOLE["images"][:2],
        "annotations": WHOLE["annotations"],
    }
    clean = {"images": [{**WHOLE["images"][2], "id": 1}], "annotations": []}
    return [
        ScoredSet("cluttered", media, [d for d in DETECTIONS if d["image_id"] != 3]),
        ScoredSet("clean", clean, [{**d, "image_id": 1} for d in DETECTIONS if d["image_id"] == 3]),
    ]


def test_the_union_of_split_sets_scores_as_the_whole_did() -> None:
    """Colliding ids renumbered, detections following their images: the same AP (hdd ranked
    TP, FP, TP) and the same bags as the unsplit set."""
    truth, detections = combine_sets(_split())
    at = alarm_thresholds(0.75)
    union = build_report(truth, detections, thresholds=at, sets=("cluttered", "clean"))
    whole = build_report(WHOLE, DETECTIONS, thresholds=at)
    assert union.coco.ap50 == whole.coco.ap50
    assert union.coco.ap50[1] == pytest.approx((51 + 50 * 2 / 3) / 101)
    assert union.bags == whole.bags
    assert (union.bags.clean_bags, union.bags.alarmed_clean_bags) == (1, 1)
    assert len({a["id"] for a in truth["annotations"]}) == 3
    assert [im["file_name"] for im in truth["images"]] == [
        "cluttered/1.png",
        "cluttered/2.png",
        "clean/3.png",
    ]
    assert union.to_dict()["sets"] == ["cluttered", "clean"]


def test_ground_truth_as_detections_on_the_union_scores_one() -> None:
    parts = [
        ScoredSet(s.name, s.ground_truth, [
            {**a, "score": 1.0} for a in s.ground_truth["annotations"]
        ])
        for s in _split()
    ]  # fmt: skip
    truth, detections = combine_sets(parts)
    assert evaluate_coco(truth, detections).map50_media == pytest.approx(1.0, abs=1e-12)


def test_sets_that_cannot_be_combined_are_refused(tmp_path: Path) -> None:
    media, clean = _split()
    with pytest.raises(EvaluationError, match="other categories"):
        combine_sets([media, ScoredSet("x", {**clean.ground_truth, "categories": [{"id": 1}]}, [])])
    stray = ScoredSet("clean", clean.ground_truth, [{**DETECTIONS[0], "image_id": 7}])
    with pytest.raises(EvaluationError, match="names image 7"):
        combine_sets([media, stray])
    with pytest.raises(EvaluationError, match="no evaluation set"):
        combine_sets([])
    with pytest.raises(EvaluationError, match="repeated: data"):
        set_names([tmp_path / "a" / "data", tmp_path / "b" / "data"])
    with pytest.raises(EvaluationError, match="given twice"):
        set_names([tmp_path / "a", tmp_path / "a" / ".." / "a"])


def _two_sets(tmp_path: Path) -> list[Path]:
    return [
        write_dataset(tmp_path / "with-media", SCENES),
        write_dataset(tmp_path / "clean-bags", [[], [], []]),
    ]


def test_every_image_is_predicted_once_and_each_set_reported(
    tmp_path: Path, tiny_model: RetinaNet
) -> None:
    roots = _two_sets(tmp_path)
    seen: list[tuple[int, int]] = []
    report = evaluate_sets(
        tiny_model,
        [CocoDetectionDirectory(r) for r in roots],
        batch_size=2,
        on_batch=lambda done, total: seen.append((done, total)),
    )
    assert seen == [(2, 7), (4, 7), (6, 7), (7, 7)]
    assert list(report.per_set) == ["with-media", "clean-bags"]
    assert report.combined.num_images == 7
    assert report.combined.bags.clean_bags == 1 + 3
    assert report.per_set["clean-bags"].bags.media_bags == 0
    assert len(report.combined.detections) == sum(
        len(r.detections) for r in report.per_set.values()
    )


def test_cli_scores_several_sets_as_one_and_each_apart(
    tmp_path: Path, tiny_model: RetinaNet
) -> None:
    save_artifact(tmp_path / "model", model=tiny_model, preset=get_preset("tiny"), version="t")
    roots = _two_sets(tmp_path)
    app = typer.Typer()
    app.command("eval")(eval_command)
    app.command("train")(train_command)
    out = tmp_path / "report"
    data = [arg for root in roots for arg in ("--data", str(root))]
    result = CliRunner().invoke(
        app, ["eval", "--model", str(tmp_path / "model"), *data, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    combined = json.loads((out / "report.json").read_text())
    assert (combined["num_images"], combined["sets"]) == (7, ["with-media", "clean-bags"])
    assert json.loads((out / "clean-bags" / "report.json").read_text())["num_images"] == 3
    assert "7 images of with-media, clean-bags" in (out / "summary.md").read_text()
    assert "clean-bags" in result.output
    twice = CliRunner().invoke(
        app, ["eval", "--model", str(tmp_path / "model"), *data[:2], *data[:2]]
    )
    assert twice.exit_code == 1
    assert "given twice" in twice.output

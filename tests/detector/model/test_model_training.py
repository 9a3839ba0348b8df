"""Training: the loss falls on a fixed batch, empty images train, resume is exact, a run
writes its artifact, curves and evaluation report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from torchvision.models.detection.retinanet import RetinaNet

from detector.artifacts import load_artifact, save_artifact
from detector.evaluation.report import EvaluationReport
from detector.evaluation.runner import evaluate_model
from detector.exceptions import CheckpointError, DatasetError
from detector.model import build_retinanet, get_preset
from detector.model.builder import early_backbone_parameters
from detector.training import CocoDetectionDirectory, TrainConfig, Trainer, dataset_fingerprint
from detector.training import run as run_module
from detector.training.run import run_training
from detector.training.trainer import autocast_dtype

TINY = get_preset("tiny")


def _trainer(model, data, out: Path, **options: object) -> Trainer:  # type: ignore[no-untyped-def]
    config = TrainConfig(
        **{"batch_size": 2, "warmup_steps": 2, "augment": False, "lr": 3e-3, **options}  # type: ignore[arg-type]
    )
    return Trainer(model=model, preset=TINY, config=config, train_data=data, out_dir=out)


def test_loss_falls_on_a_fixed_batch(dataset_dir: Path, tiny_model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    torch.set_num_threads(1)
    data = CocoDetectionDirectory(dataset_dir)
    batch = [data[0], data[1], data[2], data[3]]  # includes the empty image
    trainer = _trainer(tiny_model, data, tmp_path, steps=40, warmup_steps=5)
    losses = [trainer.train_step(batch)["loss"] for _ in range(40)]
    assert all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5


def test_mixed_precision_is_bfloat16_on_a_cpu_that_has_it(
    dataset_dir: Path, tiny_model: RetinaNet, tmp_path: Path
) -> None:
    data = CocoDetectionDirectory(dataset_dir)
    trainer = _trainer(tiny_model, data, tmp_path, steps=2)
    native = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    assert trainer.amp_dtype == (torch.bfloat16 if native else None)
    assert autocast_dtype(torch.device("cuda")) == torch.float16
    assert _trainer(tiny_model, data, tmp_path, steps=2, amp=False).amp_dtype is None
    assert not trainer.scaler.is_enabled()


def test_early_layers_stay_frozen_for_the_first_stage_only(
    dataset_dir: Path, tiny_model: RetinaNet, tmp_path: Path
) -> None:
    data = CocoDetectionDirectory(dataset_dir)
    batch = [data[0], data[1]]
    trainer = _trainer(tiny_model, data, tmp_path, steps=6, freeze_early_steps=2)
    early = early_backbone_parameters(tiny_model)
    before = [p.detach().clone() for p in early]
    head = tiny_model.head.classification_head.cls_logits.weight
    head_before = head.detach().clone()
    trainer.train_step(batch)
    trainer.train_step(batch)
    assert all(torch.equal(a, p) for a, p in zip(before, early, strict=True))
    assert not torch.equal(head_before, head)
    trainer.train_step(batch)
    assert not all(torch.equal(a, p) for a, p in zip(before, early, strict=True))


def test_image_without_objects_trains(dataset_dir: Path, tiny_model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = CocoDetectionDirectory(dataset_dir)
    empty = data[2]
    assert empty.boxes.shape == (0, 4)
    losses = _trainer(tiny_model, data, tmp_path, steps=2).train_step([empty])
    assert losses["bbox_regression"] == 0.0
    assert losses["classification"] > 0.0


def test_resume_reproduces_an_uninterrupted_run(dataset_dir: Path, tmp_path: Path) -> None:
    data = CocoDetectionDirectory(dataset_dir)

    def fresh() -> RetinaNet:
        torch.manual_seed(0)
        return build_retinanet(TINY)

    straight = _trainer(fresh(), data, tmp_path / "a", steps=6, augment=True).fit()
    _trainer(fresh(), data, tmp_path / "b", steps=6, augment=True).fit(until_step=3)
    resumed = _trainer(fresh(), data, tmp_path / "b", steps=6, augment=True).fit()
    assert resumed.step == 6
    for (name, a), b in zip(
        straight.model.state_dict().items(), resumed.model.state_dict().values(), strict=True
    ):
        assert torch.allclose(a, b, atol=1e-6), name
    with pytest.raises(CheckpointError, match="seed"):
        _trainer(fresh(), data, tmp_path / "b", steps=6, augment=True, seed=1).fit()


def test_run_writes_artifact_curves_and_report(dataset_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    outcome = run_training(
        preset=TINY,
        data_dirs=[dataset_dir],
        eval_dir=dataset_dir,
        out_dir=out,
        config=TrainConfig(steps=3, batch_size=2, warmup_steps=1, eval_every_steps=2),
        version="test-1",
    )
    assert outcome.curves_png.stat().st_size > 0
    assert (out / "eval" / "report.json").is_file()
    assert (out / "eval" / "summary.md").read_text().startswith("# Detector evaluation")
    card = json.loads((out / "model" / "model_card.json").read_text())
    assert card["preset"]["name"] == "tiny"
    assert card["training"]["steps"] == 3
    assert len(card["data_fingerprint"]) == 64
    assert load_artifact(outcome.artifact_dir).card.version == "test-1"
    best = load_artifact(out / "best").card
    assert best.version == "test-1"
    assert "map50_media" in best.metrics
    assert best.training["steps"] in (2, 3)
    assert best.training["images_seen"] == 2 * best.training["steps"]


def test_final_evaluation_reuses_the_last_periodic_one(
    dataset_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    passes: list[str | None] = []

    def counted(*args: Any, **kwargs: Any) -> EvaluationReport:
        passes.append(kwargs.get("model_version"))
        return evaluate_model(*args, **kwargs)

    def run() -> None:
        run_training(
            preset=TINY,
            data_dirs=[dataset_dir],
            eval_dir=dataset_dir,
            out_dir=tmp_path / "run",
            config=TrainConfig(steps=4, batch_size=2, warmup_steps=1, eval_every_steps=2),
            version="test-2",
        )

    monkeypatch.setattr(run_module, "evaluate_model", counted)
    run()
    assert passes == ["test-2", "test-2"]  # steps 2 and 4; the report is step 4's
    report = json.loads((tmp_path / "run" / "eval" / "report.json").read_text())
    assert report["model_version"] == "test-2"
    passes.clear()
    run()
    assert passes == ["test-2"]  # resumed at its last step: nothing kept, so one pass


def test_several_data_sets_train_as_one(dataset_dir: Path, tmp_path: Path) -> None:
    other = Path(shutil.copytree(dataset_dir, tmp_path / "other"))
    out = tmp_path / "run"
    outcome = run_training(
        preset=TINY,
        data_dirs=[dataset_dir, other],
        out_dir=out,
        config=TrainConfig(steps=2, batch_size=8, warmup_steps=0),
    )
    assert outcome.card.data_fingerprint == dataset_fingerprint(dataset_dir, other)
    assert dataset_fingerprint(dataset_dir, other) != dataset_fingerprint(dataset_dir)
    with pytest.raises(DatasetError, match="no training data"):
        run_training(preset=TINY, data_dirs=[], out_dir=out, config=TrainConfig(steps=1))


def test_bad_dataset_is_refused_before_training(dataset_dir: Path) -> None:
    ann = dataset_dir / "annotations.json"
    coco = json.loads(ann.read_text())
    coco["annotations"][0]["category_id"] = 42
    ann.write_text(json.dumps(coco))
    with pytest.raises(DatasetError, match="category_id"):
        CocoDetectionDirectory(dataset_dir)


def test_cli_trains_and_evaluates(dataset_dir: Path, tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from infra.commands.model import eval_command, train_command

    app = typer.Typer()
    app.command("train")(train_command)
    app.command("eval")(eval_command)
    runner = CliRunner()
    run = tmp_path / "run"
    args = ["train", "--preset", "tiny", "--data", str(dataset_dir), "--out", str(run)]
    result = runner.invoke(app, [*args, "--steps", "2", "--batch-size", "2", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    report = tmp_path / "report"
    args = ["eval", "--model", str(run / "model"), "--data", str(dataset_dir), "--out", str(report)]
    result = runner.invoke(app, [*args, "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert json.loads((report / "report.json").read_text())["num_images"] == 4
    result = runner.invoke(
        app,
        [
            "eval",
            "--model",
            str(run / "checkpoint" / "optim.pt"),
            "--data",
            str(dataset_dir),
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 1


def test_cli_starts_a_run_from_an_artifact_of_the_same_preset(
    dataset_dir: Path, tmp_path: Path
) -> None:
    import typer
    from typer.testing import CliRunner

    from infra.commands.model import eval_command, train_command

    app = typer.Typer()
    app.command("train")(train_command)
    app.command("eval")(eval_command)
    runner = CliRunner()
    common = ["train", "--data", str(dataset_dir), "--steps", "1", "--batch-size", "2"]
    first = runner.invoke(app, [*common, "--preset", "tiny", "--out", str(tmp_path / "a")])
    assert first.exit_code == 0, first.output
    start = load_artifact(tmp_path / "a" / "model").model.state_dict()
    init = ["--init", str(tmp_path / "a" / "model"), "--lr", "1e-9", "--warmup-steps", "0"]
    second = runner.invoke(app, [*common, "--preset", "tiny", "--out", str(tmp_path / "b"), *init])
    assert second.exit_code == 0, second.output
    continued = load_artifact(tmp_path / "b" / "model")
    assert all(torch.allclose(start[k], continued.model.state_dict()[k], atol=1e-4) for k in start)
    parent = load_artifact(tmp_path / "a" / "model").card
    assert continued.card.training["init_version"] == parent.version
    assert continued.card.training["init_weights_sha256"] == parent.weights_sha256
    assert "init_version" not in parent.training  # a run from the preset names no parent
    other = runner.invoke(
        app, [*common, "--preset", "edge-resnet18", "--out", str(tmp_path / "c"), *init]
    )
    assert other.exit_code == 1
    assert "is a tiny model, not edge-resnet18" in " ".join(other.output.split())


def test_cli_starts_a_run_from_an_artifact_of_other_anchors(
    dataset_dir: Path, tmp_path: Path
) -> None:
    """A model trained under another anchor set (as the committed starter is, against a
    changed preset) starts the run: everything but the head's output layers carries over."""
    import dataclasses

    import typer
    from typer.testing import CliRunner

    from infra.commands.model import eval_command, train_command

    tiny = get_preset("tiny")
    two_scales = dataclasses.replace(tiny, anchor_scales=(1.0, 2**0.5))
    save_artifact(
        tmp_path / "two", model=build_retinanet(two_scales), preset=two_scales, version="two"
    )
    app = typer.Typer()
    app.command("train")(train_command)
    app.command("eval")(eval_command)
    result = CliRunner().invoke(
        app,
        ["train", "--data", str(dataset_dir), "--steps", "1", "--batch-size", "2",
         "--preset", "tiny", "--out", str(tmp_path / "one"), "--init", str(tmp_path / "two"),
         "--lr", "1e-9", "--warmup-steps", "0"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "4 of the head's output layers" in " ".join(result.output.split())
    start = load_artifact(tmp_path / "two").model.state_dict()
    trained = load_artifact(tmp_path / "one" / "model")
    assert trained.card.preset == tiny
    weights = trained.model.state_dict()
    assert weights["head.classification_head.cls_logits.weight"].shape[0] == (
        start["head.classification_head.cls_logits.weight"].shape[0] // 2
    )
    tower = [k for k in weights if k.startswith(("backbone.", "head.classification_head.conv"))]
    assert tower
    assert all(torch.allclose(start[k], weights[k], atol=1e-4) for k in tower)


def test_a_resumed_run_keeps_the_best_it_saved_unless_beaten(
    dataset_dir: Path, tmp_path: Path
) -> None:
    """The best so far comes from the run's recorded evaluations, restored by the resume:
    the first evaluation after it must beat them to replace ``best/``."""
    out = tmp_path / "run"

    def train() -> None:
        run_training(
            preset=TINY,
            data_dirs=[dataset_dir],
            eval_dir=dataset_dir,
            out_dir=out,
            config=TrainConfig(steps=4, batch_size=2, warmup_steps=1, eval_every_steps=2),
            version="test-1",
        )

    train()
    best_card = (out / "best" / "model_card.json").read_text()
    # Back to step 2, whose recorded evaluation nothing can beat: the resumed run trains
    # steps 3 and 4 again and evaluates at 4.
    state_path = out / "checkpoint" / "state.json"
    state = json.loads(state_path.read_text())
    state["step"] = 2
    state["history"]["eval"] = [{**state["history"]["eval"][0], "map50_media": 2.0}]
    state_path.write_text(json.dumps(state))
    train()
    assert (out / "best" / "model_card.json").read_text() == best_card

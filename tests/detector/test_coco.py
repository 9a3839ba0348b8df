"""COCO data sets: format details, round trip, parallel generation equals serial, the CLI."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from detector.datasets.coco import (
    CocoImage,
    CocoObject,
    coco_document,
    encode_png,
    load_raw,
    load_rgb,
    read_dataset,
    write_annotations,
)
from detector.datasets.generate import GenerateJob, generate_dataset
from detector.evaluation import evaluate_coco
from detector.exceptions import DatasetError
from detector.sim.scenes import get_preset
from detector.sim.simulate import simulate
from infra.commands.data import app
from leakguard.classes import CLASS_NAMES


def test_document_has_all_classes_and_coco_boxes() -> None:
    image = CocoImage(
        0, "images/000000.png", 64, 48, (CocoObject(6, "microsd", (10.0, 5.0, 22.5, 20.0)),)
    )
    doc = coco_document([image])
    assert {c["id"]: c["name"] for c in doc["categories"]} == CLASS_NAMES
    (ann,) = doc["annotations"]
    assert ann["bbox"] == [10.0, 5.0, 12.5, 15.0]
    assert ann["area"] == pytest.approx(12.5 * 15.0)
    assert ann["iscrowd"] == 0
    assert ann["subtype"] == "microsd"
    assert ann["category_id"] == 6


def test_annotation_ids_are_unique_across_and_within_images() -> None:
    boxes = [(1, (1.0, 1.0, 9.0, 9.0)), (6, (20.0, 20.0, 30.0, 30.0)), (5, (2.0, 40.0, 40.0, 48.0))]
    images = [
        CocoImage(i, f"images/{i:06d}.png", 64, 64, tuple(CocoObject(c, "x", b) for c, b in boxes))
        for i in range(3)
    ]
    ids = [ann["id"] for ann in coco_document(images)["annotations"]]
    assert sorted(ids) == list(range(1, 10))


def test_repeated_annotation_ids_are_refused(tmp_path: Path) -> None:
    image = CocoImage(
        0,
        "images/000000.png",
        32,
        32,
        (CocoObject(1, "a", (1.0, 1.0, 5.0, 5.0)), CocoObject(6, "b", (8.0, 8.0, 12.0, 12.0))),
    )
    (tmp_path / "images").mkdir()
    (tmp_path / image.file_name).write_bytes(encode_png(np.zeros((32, 32, 3), np.uint8)))
    doc = coco_document([image])
    for ann in doc["annotations"]:
        ann["id"] = 1
    (tmp_path / "annotations.json").write_text(json.dumps(doc))
    with pytest.raises(DatasetError, match="annotation id 1 repeats"):
        read_dataset(tmp_path)


def test_empty_box_is_refused() -> None:
    with pytest.raises(DatasetError):
        coco_document(
            [CocoImage(0, "a.png", 8, 8, (CocoObject(1, "hdd_3_5", (3.0, 3.0, 3.0, 5.0)),))]
        )


def test_round_trip(tmp_path: Path) -> None:
    images = [
        CocoImage(
            i, f"images/{i:06d}.png", 32, 32, (CocoObject(9, "aux_battery", (1.0, 2.0, 3.0, 4.0)),)
        )
        for i in range(3)
    ]
    (tmp_path / "images").mkdir()
    for image in images:
        (tmp_path / image.file_name).write_bytes(encode_png(np.zeros((32, 32, 3), np.uint8)))
    write_annotations(tmp_path, images)
    assert read_dataset(tmp_path) == images


def test_missing_image_file_is_refused(tmp_path: Path) -> None:
    write_annotations(tmp_path, [CocoImage(0, "images/000000.png", 32, 32, ())])
    with pytest.raises(DatasetError, match="image file missing"):
        read_dataset(tmp_path)


def test_wrong_categories_are_refused(tmp_path: Path) -> None:
    (tmp_path / "annotations.json").write_text(
        json.dumps({"images": [], "annotations": [], "categories": [{"id": 1, "name": "disk"}]})
    )
    with pytest.raises(DatasetError):
        read_dataset(tmp_path)


@pytest.mark.slow
def test_parallel_generation_equals_serial(tmp_path: Path) -> None:
    job = GenerateJob(
        preset=get_preset("bag"),
        seed=5,
        out=tmp_path / "serial",
        width_px=96,
        height_px=96,
        raw=True,
    )
    generate_dataset(job, n_images=4, workers=1)
    doc = json.loads((job.out / "annotations.json").read_text())
    ids = [ann["id"] for ann in doc["annotations"]]
    assert len(ids) > 4, "a bag set of four images holds several objects per image"
    assert len(set(ids)) == len(ids)
    as_detections = [{**ann, "score": 1.0} for ann in doc["annotations"]]
    assert evaluate_coco(doc, as_detections).map50_all == pytest.approx(1.0, abs=1e-12)
    parallel = dataclasses.replace(job, out=tmp_path / "parallel")
    generate_dataset(parallel, n_images=4, workers=2)
    serial_records, parallel_records = read_dataset(job.out), read_dataset(parallel.out)
    assert serial_records == parallel_records
    for record in serial_records:
        np.testing.assert_array_equal(load_rgb(job.out, record), load_rgb(parallel.out, record))
        assert record.raw_file_name is not None
        assert (job.out / record.raw_file_name).is_file()


def test_raw_channels_read_back_as_the_simulator_made_them(tmp_path: Path) -> None:
    job = GenerateJob(
        preset=get_preset("bag"), seed=7, out=tmp_path / "set", width_px=80, height_px=64, raw=True
    )
    generate_dataset(job, n_images=2, workers=1)
    for index, record in enumerate(read_dataset(job.out)):
        expected = simulate(job.preset, seed=7, index=index, width_px=80, height_px=64)
        np.testing.assert_array_equal(load_raw(job.out, record), expected.raw_uint16())
    record = read_dataset(job.out)[0]
    assert record.raw_file_name is not None
    # An 8-bit file where the 16-bit planes belong, and a set written without them.
    (job.out / record.raw_file_name).write_bytes((job.out / record.file_name).read_bytes())
    with pytest.raises(DatasetError, match="not two 16-bit 80x64 planes"):
        load_raw(job.out, record)
    with pytest.raises(DatasetError, match="no raw channels"):
        load_raw(job.out, dataclasses.replace(record, raw_file_name=None))


def test_cli_generate_and_gallery(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "set"
    result = runner.invoke(
        app,
        [
            "generate",
            "--out",
            str(out),
            "--preset",
            "alone",
            "--n",
            "3",
            "--size",
            "96",
            "--workers",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    records = read_dataset(out)
    assert len(records) == 3
    assert all((out / r.file_name).is_file() for r in records)
    sheet = tmp_path / "sheet.png"
    result = runner.invoke(
        app,
        ["gallery", "--dataset", str(out), "--out", str(sheet), "--columns", "2", "--tile", "64"],
    )
    assert result.exit_code == 0, result.output
    assert sheet.is_file()


def test_cli_reports_unknown_preset(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["generate", "--out", str(tmp_path), "--preset", "nope", "--n", "1"]
    )
    assert result.exit_code == 2  # a usage error, listing the choices
    assert "cluttered" in result.output


def test_png_encoder_round_trips_exactly() -> None:
    import io

    from PIL import Image

    rgb = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    with Image.open(io.BytesIO(encode_png(rgb))) as img:
        np.testing.assert_array_equal(np.asarray(img.convert("RGB")), rgb)

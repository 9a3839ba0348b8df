"""The detect step without Kafka: a batch with a bad frame, and swapping the engine."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from detector.artifacts import public_key_id, sign_artifact
from detector.engine import DetectedObject as EngineObject
from detector.engine import InferenceEngine
from leakguard.classes import STORAGE_MEDIA_CLASS_IDS
from schemas.events import Detection, ImagePayload, ScanFrame
from schemas.exceptions import ImageRejectedError
from schemas.images import ImageReader, png_payload
from streams.apps.edge import load_detector
from streams.config import WorkerConfig
from streams.detect import FrameDetector
from streams.exceptions import FrameStoreError, StreamsConfigError
from streams.frame_store import FrameStore
from tests.streams.helpers import png


class _Engine:
    """A stand-in engine at the model edge: one box per image, its version fixed."""

    def __init__(self, version: str) -> None:
        self.model_version = version
        self.calls: list[int] = []

    def predict(self, images: Sequence[np.ndarray]) -> list[list[EngineObject]]:
        self.calls.append(len(images))
        return [
            [EngineObject(3, "phone", 0.9, (1.0, 2.0, float(i.shape[1]), 9.0), True)]
            for i in images
        ]


def _frame(index: int) -> ScanFrame:
    return ScanFrame(
        checkpoint="cp",
        lane="1",
        frame_id=f"f{index}",
        scanner_id="s",
        view_id="top",
        image=png_payload(png(32 + index, 24, seed=index)),
    )


def test_bad_frame_fails_alone_and_images_are_staged(tmp_path: Path) -> None:
    engine = _Engine("v1")
    detector = FrameDetector(engine=engine, store=FrameStore(str(tmp_path)))
    bad = dataclasses.replace(
        _frame(1), image=dataclasses.replace(_frame(1).image, sha256="f" * 64)
    )
    results = detector.run_batch([_frame(0), bad, _frame(2)])
    assert isinstance(results[1], ImageRejectedError)
    first, third = results[0], results[2]
    assert not isinstance(first, Exception)
    assert not isinstance(third, Exception)
    assert (first.frame_id, third.frame_id) == ("f0", "f2")
    assert first.objects[0].object_id == "o0"
    assert first.objects[0].box.x2 == 32.0
    assert first.alarmed
    assert engine.calls == [2]
    assert len(list(tmp_path.rglob("*.png"))) == 2
    for result, frame in ((first, _frame(0)), (third, _frame(2))):
        assert result.image is not None  # readers fetch the image the edge staged
        assert result.image.sha256 == frame.image.sha256
        assert Path(result.image.uri).read_bytes() == frame.image.inline


def test_swapped_engine_serves_the_next_batch() -> None:
    detector = FrameDetector(engine=_Engine("v1"))
    before = detector.run_batch([_frame(0)])[0]
    previous = detector.swap_engine(_Engine("v2"))
    after = detector.run_batch([_frame(0)])[0]
    assert previous.model_version == "v1"
    assert not isinstance(before, Exception)
    assert not isinstance(after, Exception)
    assert (before.model_version, after.model_version) == ("v1", "v2")
    assert before.image is None  # no frame store, nothing staged to link


def test_prepared_batch_keeps_errors_and_uses_the_engine_in_place_at_inference() -> None:
    detector = FrameDetector(engine=_Engine("v1"))
    bad = dataclasses.replace(_frame(1), image=dataclasses.replace(_frame(1).image, inline=b"x"))
    prepared = detector.prepare([bad, _frame(2)])
    assert prepared.slots == [1]
    assert prepared.arrays[0].shape == (24, 34, 3)
    detector.swap_engine(_Engine("v2"))  # the edge swaps while the batch waits for inference
    results = detector.infer(prepared)
    assert isinstance(results[0], ImageRejectedError)
    assert not isinstance(results[1], Exception)
    assert results[1].model_version == "v2"


@pytest.fixture
def edge_config(tiny_artifact: Path, tmp_path: Path) -> WorkerConfig:
    """An edge worker's options around the tiny model (no broker is contacted)."""
    return WorkerConfig(
        role="edge",
        bootstrap_servers="127.0.0.1:9",
        model_path=str(tiny_artifact),
        frame_store_url=str(tmp_path / "fs"),
    )


def test_edge_loads_its_model_at_the_configured_alarm_threshold(
    edge_config: WorkerConfig,
) -> None:
    config = dataclasses.replace(edge_config, alarm_threshold=0.3)
    engine = load_detector(config).engine
    assert isinstance(engine, InferenceEngine)
    assert engine.thresholds == dict.fromkeys(STORAGE_MEDIA_CLASS_IDS, 0.3)  # others never
    with pytest.raises(StreamsConfigError, match="alarm_threshold"):
        dataclasses.replace(config, alarm_threshold=0.0)


def test_an_edge_names_its_device_and_a_missing_gpu_stops_it_at_start(
    edge_config: WorkerConfig,
) -> None:
    config = edge_config
    engine = load_detector(config).engine
    assert isinstance(engine, InferenceEngine)
    assert {p.device.type for p in engine.model.parameters()} == {"cpu"}
    for bad in ("gpu", "cuda:x", "cuda:0,1", ""):
        with pytest.raises(StreamsConfigError, match="device"):
            dataclasses.replace(config, device=bad)
    missing = f"cuda:{torch.cuda.device_count()}"  # one past the last GPU, on any machine
    with pytest.raises(StreamsConfigError, match=f"device {missing} is not available"):
        load_detector(dataclasses.replace(config, device=missing))


def test_a_claim_check_outside_the_roots_and_an_unexpected_error_fail_their_frame_alone(
    tmp_path: Path,
) -> None:
    """A frame naming a file out of the scanners' folders is refused; any other error while
    one frame is prepared (here a reader that breaks on one frame) fails that frame only."""
    scanner = tmp_path / "scanner"
    scanner.mkdir()
    secret = tmp_path / "secret.png"
    secret.write_bytes(png(30, 24, seed=5))
    outside = dataclasses.replace(
        _frame(0), image=png_payload(secret.read_bytes(), uri=str(secret))
    )

    class Breaking(ImageReader):
        def frame(self, image: ImagePayload) -> bytes:
            if image.sha256 == _frame(2).image.sha256:
                raise RuntimeError("a bug in a store client")
            return super().frame(image)

    detector = FrameDetector(engine=_Engine("v1"), images=Breaking(roots=(str(scanner),)))
    results = detector.run_batch([outside, _frame(1), _frame(2), _frame(3)])
    assert isinstance(results[0], ImageRejectedError)
    assert "outside the image roots" in str(results[0])
    assert isinstance(results[2], ImageRejectedError)
    assert "RuntimeError: a bug in a store client" in str(results[2])
    assert [r.frame_id for r in results if not isinstance(r, Exception)] == ["f1", "f3"]


def test_a_frame_whose_image_cannot_be_staged_still_alarms_without_a_link(
    tmp_path: Path,
) -> None:
    """Fail closed: a full or broken frame store must not silence the alarm; the frame is
    detected without a link and the failure is handed back to be reported."""
    blocked = tmp_path / "store"
    blocked.write_bytes(b"a file where the store's folder should be")
    detector = FrameDetector(engine=_Engine("v1"), store=FrameStore(str(blocked)))
    prepared = detector.prepare([_frame(0), _frame(1)])
    results = detector.infer(prepared)
    assert all(isinstance(r, Detection) and r.alarmed and r.image is None for r in results)
    assert [frame_id for frame_id, _ in prepared.unstaged] == ["f0", "f1"]
    assert all(isinstance(error, FrameStoreError) for _, error in prepared.unstaged)


def test_an_edge_that_trusts_keys_starts_only_on_a_model_they_signed(
    edge_config: WorkerConfig, tiny_artifact: Path, tmp_path: Path
) -> None:
    """An edge that refuses unsigned updates must not start on an unsigned model either."""
    registry_key, other_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    trusted = {public_key_id(registry_key.public_key()): registry_key.public_key()}
    with pytest.raises(StreamsConfigError, match="not signed by a trusted key"):
        load_detector(edge_config, trusted=trusted)  # the tiny artifact carries no signature
    signed = tmp_path / "signed"
    shutil.copytree(tiny_artifact, signed)
    sign_artifact(signed, other_key)
    config = dataclasses.replace(edge_config, model_path=str(signed))
    with pytest.raises(StreamsConfigError, match="not signed by a trusted key"):
        load_detector(config, trusted=trusted)
    sign_artifact(signed, registry_key)
    assert load_detector(config, trusted=trusted).engine.model_version

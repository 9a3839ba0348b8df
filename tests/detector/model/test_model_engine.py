"""Inference engine: preprocessing, inference and post-processing, each on its own, and
together from PNG bytes, in batches, in backbone slices and from several threads."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from detector.artifacts import save_artifact
from detector.engine import (
    DetectedObject,
    InferenceEngine,
    decode_png,
    forward_in_slices,
    postprocess,
    to_tensor,
)
from detector.exceptions import ImageDecodeError, ModelConfigError
from detector.model import MODEL_NUM_CLASSES, get_preset
from leakguard.classes import OTHERS_CLASS_ID


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _images(n: int, *, same_size: bool = False) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    widths = [128 if same_size else 128 + 8 * i for i in range(n)]
    return [rng.integers(0, 256, (96, w, 3), dtype=np.uint8) for w in widths]


def _same(a: list[list[DetectedObject]], b: list[list[DetectedObject]]) -> bool:
    """Equal up to float noise of batched convolutions."""
    return len(a) == len(b) and all(
        len(x) == len(y)
        and all(
            o.class_id == p.class_id
            and o.alarmed == p.alarmed
            and abs(o.score - p.score) < 1e-4
            and np.allclose(o.box, p.box, atol=1e-2)
            for o, p in zip(x, y, strict=True)
        )
        for x, y in zip(a, b, strict=True)
    )


@pytest.fixture
def engine(tmp_path: Path, tiny_model) -> InferenceEngine:  # type: ignore[no-untyped-def]
    # Push every anchor's class-6 and ``others`` logits up so a random model emits boxes.
    bias = tiny_model.head.classification_head.cls_logits.bias.data
    bias[6::MODEL_NUM_CLASSES] = 2.0
    bias[OTHERS_CLASS_ID::MODEL_NUM_CLASSES] = 2.0
    save_artifact(tmp_path / "a", model=tiny_model, preset=get_preset("tiny"), version="v7")
    return InferenceEngine.from_artifact(
        tmp_path / "a", thresholds={6: 0.95, OTHERS_CLASS_ID: 0.0}, max_batch_size=2
    )


def test_preprocessing_decodes_png_like_the_array() -> None:
    (array,) = _images(1)
    assert np.array_equal(decode_png(_png(array)), array)
    tensor = to_tensor(array)
    assert tensor.shape == (3, 96, 128)
    assert tensor.dtype == torch.float32
    assert float(tensor.min()) >= 0.0
    assert float(tensor.max()) <= 1.0


def test_bad_bytes_and_bombs_are_refused() -> None:
    with pytest.raises(ImageDecodeError):
        decode_png(b"not a png")
    with pytest.raises(ImageDecodeError, match="exceeds"):
        decode_png(_png(np.zeros((100, 100, 3), dtype=np.uint8)), max_pixels=9_999)
    with pytest.raises(ImageDecodeError):
        to_tensor(np.zeros((10, 10), dtype=np.uint8))


def test_postprocess_thresholds_and_others_never_alarms() -> None:
    output = {
        "boxes": torch.tensor([[1.0, 2.0, 3.0, 4.0]] * 4),
        "scores": torch.tensor([0.99, 0.6, 0.3, 0.05]),
        "labels": torch.tensor([OTHERS_CLASS_ID, 6, 6, 6]),
    }
    objects = postprocess(output, thresholds={6: 0.5, OTHERS_CLASS_ID: 0.0}, min_score=0.1)
    assert [(o.class_name, o.alarmed) for o in objects] == [
        ("others", False),
        ("sdcard", True),
        ("sdcard", False),  # sub-threshold, kept for the outcome join
    ]
    assert objects[1].box == (1.0, 2.0, 3.0, 4.0)


def test_engine_from_png_bytes_matches_arrays(engine: InferenceEngine) -> None:
    arrays = _images(3)
    from_arrays = engine.predict(arrays)
    from_png = engine.predict([_png(a) for a in arrays])
    assert from_arrays == from_png
    assert engine.model_version == "v7"
    assert any(from_arrays)
    for image, objects in zip(arrays, from_arrays, strict=True):
        for obj in objects:
            assert obj.box[2] <= image.shape[1] + 1e-3
            assert obj.box[3] <= image.shape[0] + 1e-3
            assert not (obj.class_id == OTHERS_CLASS_ID and obj.alarmed)


def test_batching_and_threads_give_per_image_results(engine: InferenceEngine) -> None:
    arrays = _images(5, same_size=True)
    one_by_one = [engine.predict([a])[0] for a in arrays]
    assert _same(engine.predict(arrays), one_by_one)  # 5 images in chunks of 2
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda a: engine.predict([a])[0], arrays))
    assert results == one_by_one


def test_slices_give_the_bare_forward(engine: InferenceEngine) -> None:
    # Mixed widths: the whole batch is padded to the widest, sliced or not.
    tensors = engine.preprocess(_images(5))
    with torch.inference_mode():
        bare = engine.model(tensors)
        for slice_size in (1, 2, 5):
            sliced = forward_in_slices(engine.model, tensors, slice_size=slice_size)
            assert len(sliced) == len(bare)
            for s, b in zip(sliced, bare, strict=True):
                assert torch.equal(s["labels"], b["labels"])
                torch.testing.assert_close(s["scores"], b["scores"], rtol=1e-4, atol=1e-5)
                torch.testing.assert_close(s["boxes"], b["boxes"], rtol=1e-4, atol=1e-3)
    assert any(len(b["scores"]) for b in bare)


def test_batch_in_uneven_slices_gives_per_image_results(engine: InferenceEngine) -> None:
    sliced = InferenceEngine(
        model=engine.model,
        model_version="v7",
        thresholds={6: 0.95, OTHERS_CLASS_ID: 0.0},
        max_batch_size=8,
        slice_size=3,  # slices of 3, 3 and 2 images
    )
    arrays = _images(8, same_size=True)
    one_by_one = [engine.predict([a])[0] for a in arrays]
    assert any(one_by_one)
    assert _same(sliced.predict(arrays), one_by_one)


def test_bad_frame_in_a_batch_is_named(engine: InferenceEngine) -> None:
    with pytest.raises(ImageDecodeError, match="image 1"):
        engine.predict([_images(1)[0], b"garbage"])


def test_blank_image_yields_no_alarm(engine: InferenceEngine) -> None:
    blank = np.full((96, 128, 3), 255, dtype=np.uint8)
    (objects,) = engine.predict([blank], min_score=0.99)
    assert objects == []
    assert engine.predict([]) == []


def test_invalid_options_fail_at_construction(tiny_model) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ModelConfigError):
        InferenceEngine(model=tiny_model, model_version="x", thresholds={42: 0.5})
    with pytest.raises(ModelConfigError):
        InferenceEngine(model=tiny_model, model_version="x", min_score=0.0)
    with pytest.raises(ModelConfigError, match="slice_size"):
        InferenceEngine(model=tiny_model, model_version="x", slice_size=0)

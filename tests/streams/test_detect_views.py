"""The detect step on multi-view frames (#20), without Kafka: every view detected in the
batch's one engine call and staged, objects matched into items across views, and a frame
with a bad or surplus view rejected whole while the rest of the batch goes on."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from detector.engine import DetectedObject as EngineObject
from schemas.events import Detection, ScanFrame, ScanView
from schemas.exceptions import ImageRejectedError
from schemas.images import ImageReader, png_payload
from streams.detect import MAX_EXTRA_VIEWS, FrameDetector
from streams.frame_store import FrameStore
from tests.streams.helpers import png


class _Engine:
    """A stand-in engine at the model edge: one phone across each image's full width."""

    model_version = "v1"

    def __init__(self) -> None:
        self.calls: list[list[tuple[int, int]]] = []

    def predict(self, images: Sequence[np.ndarray]) -> list[list[EngineObject]]:
        self.calls.append([image.shape[:2] for image in images])
        return [
            [EngineObject(3, "phone", 0.9, (0.0, 2.0, float(i.shape[1]), 9.0), True)]
            for i in images
        ]


def _frame(index: int, *views: ScanView) -> ScanFrame:
    return ScanFrame(
        checkpoint="cp", lane="1", frame_id=f"f{index}", scanner_id="s", view_id="top",
        image=png_payload(png(32, 24, seed=index)), views=views,
    )  # fmt: skip


def _side(seed: int, *, view_id: str = "side") -> ScanView:
    return ScanView(view_id=view_id, image=png_payload(png(32, 20, seed=100 + seed)))


def test_every_view_is_detected_in_one_call_staged_and_one_item(tmp_path: Path) -> None:
    engine = _Engine()
    detector = FrameDetector(engine=engine, store=FrameStore(str(tmp_path)))
    single, dual = detector.run_batch([_frame(0), _frame(1, _side(1))])
    assert engine.calls == [[(24, 32), (24, 32), (20, 32)]]
    assert isinstance(single, Detection)
    assert isinstance(dual, Detection)
    assert single.views == ()
    assert [(o.object_id, o.view_id, o.item_id) for o in single.objects] == [("o0", None, None)]
    assert [(o.object_id, o.view_id, o.item_id) for o in dual.objects] == [
        ("o0", None, "o0"),
        ("o1", "side", "o0"),
    ]
    assert dual.alarmed
    (view,) = dual.views
    assert (view.view_id, view.image_width, view.image_height) == ("side", 32, 20)
    assert view.image is not None
    assert view.image.sha256 == _side(1).image.sha256
    assert Path(view.image.uri).read_bytes() == _side(1).image.inline
    assert len(list(tmp_path.rglob("*.png"))) == 3


def _undecodable() -> ScanView:
    truncated = png(32, 20, seed=7)[:40]  # signature and IHDR, no image data
    return ScanView(view_id="side", image=png_payload(truncated))


@pytest.mark.parametrize(
    ("views", "reason"),
    [
        (tuple(_side(i, view_id=f"v{i}") for i in range(MAX_EXTRA_VIEWS + 1)), "extra views"),
        ((_side(1), _side(2)), "twice"),
        ((_side(1, view_id="top"),), "twice"),
        ((_side(1, view_id="x" * 65),), "view id"),
        ((_undecodable(),), "view 'side'"),
    ],
    ids=["too-many", "repeated", "same-as-primary", "long-id", "undecodable"],
)
def test_a_frame_with_a_bad_view_is_rejected_whole_and_alone(
    views: tuple[ScanView, ...], reason: str
) -> None:
    engine = _Engine()
    good, bad = FrameDetector(engine=engine).run_batch([_frame(0), _frame(1, *views)])
    assert isinstance(good, Detection)
    assert isinstance(bad, ImageRejectedError)
    assert reason in str(bad)
    assert engine.calls == [[(24, 32)]]


def test_an_oversize_view_image_is_refused_by_the_frame_limit() -> None:
    big = dataclasses.replace(_side(1), image=png_payload(png(64, 64, seed=3)))
    detector = FrameDetector(engine=_Engine(), images=ImageReader(max_pixels=32 * 24))
    (result,) = detector.run_batch([_frame(0, big)])
    assert isinstance(result, ImageRejectedError)
    assert "view 'side'" in str(result)

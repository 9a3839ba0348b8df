"""Sources without Kafka: the folder bridge publishes PNGs once, rejects unreadable files
with a clear reason, and simulated frames carry their ground truth."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from detector.sim.stream import ScannerStream
from schemas.events import ScanFrame
from schemas.images import ImageReader
from streams.exceptions import SourceError
from streams.sources import frame_from_file, frame_from_simulated, round_robin, watch_folder
from tests.streams.helpers import png


def test_folder_bridge_publishes_once_and_rejects_bad_files(tmp_path: Path) -> None:
    old = time.time() - 10
    for name, data in (
        ("0001.png", png(16, 16)),
        ("0002.png", b"not a png"),
        ("0003.png", png(8, 8)),
    ):
        (tmp_path / name).write_bytes(data)
        os.utime(tmp_path / name, (old, old))
    (tmp_path / "0004.png").mkdir()  # a folder named like an image
    (tmp_path / "0005.png").symlink_to(tmp_path / "gone.png")  # a dangling link
    for name in ("0004.png", "0005.png"):
        os.utime(tmp_path / name, (old, old), follow_symlinks=False)
    (tmp_path / "0006.png").write_bytes(png(8, 8))  # still being written: not yet settled
    published: list[ScanFrame] = []
    report = watch_folder(
        tmp_path, checkpoint="cp", lane="2", publish=published.append, should_stop=lambda: True
    )
    assert (report.published, report.rejected) == (2, 3)
    assert [f.frame_id for f in published] == ["cp/2/0001", "cp/2/0003"]
    assert sorted(p.name for p in (tmp_path / "done").iterdir()) == ["0001.png", "0003.png"]
    assert sorted(p.name for p in (tmp_path / "rejected").iterdir()) == [
        "0002.png",
        "0004.png",
        "0005.png",
    ]
    assert (tmp_path / "0006.png").exists()
    with pytest.raises(SourceError, match="is not a PNG"):
        frame_from_file(tmp_path / "rejected" / "0002.png", checkpoint="cp", lane="2")
    with pytest.raises(SourceError, match="cannot read scanner file"):
        frame_from_file(tmp_path / "missing.png", checkpoint="cp", lane="2")


def test_folder_bridge_sends_large_files_by_claim_check_and_refuses_huge_ones(
    tmp_path: Path,
) -> None:
    old = time.time() - 10
    small, large, huge = png(8, 8), png(64, 64, seed=1), png(128, 128, seed=2)
    assert len(small) < 1_000 < len(large) < 20_000 < len(huge)
    for name, data in (("small.png", small), ("large.png", large), ("huge.png", huge)):
        (tmp_path / name).write_bytes(data)
        os.utime(tmp_path / name, (old, old))
    published: list[ScanFrame] = []
    report = watch_folder(
        tmp_path,
        checkpoint="cp",
        lane="1",
        publish=published.append,
        should_stop=lambda: True,
        max_inline_bytes=1_000,
        max_file_bytes=20_000,
    )
    assert (report.published, report.rejected) == (2, 1)
    by_id = {frame.frame_id: frame.image for frame in published}
    assert by_id["cp/1/small"].inline == small
    claim = by_id["cp/1/large"]
    assert claim.inline is None
    assert claim.uri is not None
    assert claim.sha256 == hashlib.sha256(large).hexdigest()
    # What the edge does with it: read it from under its claim-check root.
    assert ImageReader(roots=(str(tmp_path / "done"),)).read(claim.uri) == large
    assert (tmp_path / "rejected" / "huge.png").exists()
    with pytest.raises(SourceError, match="no claim-check place"):
        frame_from_file(
            tmp_path / "done" / "large.png", checkpoint="cp", lane="1", max_inline_bytes=200
        )


def test_simulated_frame_carries_ground_truth() -> None:
    stream = ScannerStream(checkpoint_id="cp", lane_id="1", width_px=128, height_px=128)
    simulated = stream.frame(0)
    frame = frame_from_simulated(simulated)
    assert frame.frame_id == "cp/1/000000000"
    assert frame.ground_truth is not None
    assert len(frame.ground_truth) == len(simulated.ground_truth)
    assert frame.image.inline == simulated.image_png


def test_round_robin_interleaves_lanes_until_all_are_done() -> None:
    lanes = [iter("ab"), iter("xyz"), iter("")]
    assert "".join(round_robin(lanes)) == "axbyz"

"""The frame store: staging, keeping (on or off the event loop), verified reads and the
retention sweep."""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time
from pathlib import Path

import fsspec
import pytest

from schemas.events import ImageLink
from streams.apps.cloud import keep_image
from streams.exceptions import FrameStoreError
from streams.frame_store import FrameStore
from tests.streams.helpers import detection, png

#: Frame images as the edge stages them: PNGs (reads check the header's pixel count).
IMAGE = png(8, 8, seed=0)
OTHER = png(8, 8, seed=1)


def test_stage_keep_get_on_a_directory(tmp_path: Path) -> None:
    store = FrameStore(str(tmp_path / "frames"))
    staged = store.stage(IMAGE, checkpoint="cp", lane="1", frame_id="cp/1/0001")
    kept = store.keep(checkpoint="cp", lane="1", frame_id="cp/1/0001")
    assert kept.sha256 == staged.sha256
    assert staged.uri.endswith(f"/staging/cp/1/cp%2F1%2F0001/{staged.sha256}.png")
    assert "/kept/cp/1/cp%2F1%2F0001." in kept.uri
    assert store.get(kept) == IMAGE
    with pytest.raises(FrameStoreError, match="SHA-256"):
        store.get(ImageLink(uri=kept.uri, sha256="0" * 64))
    with pytest.raises(FrameStoreError, match="no staged image"):
        store.keep(checkpoint="cp", lane="1", frame_id="other")


def test_a_staged_image_corrupted_before_it_was_kept_fails_when_read(tmp_path: Path) -> None:
    store = FrameStore(str(tmp_path))
    staged = store.stage(IMAGE, checkpoint="cp", lane="1", frame_id="f")
    Path(staged.uri).write_bytes(b"flipped")
    kept = store.keep(checkpoint="cp", lane="1", frame_id="f")
    with pytest.raises(FrameStoreError, match="does not match its SHA-256"):
        store.get(kept)


def test_keeping_on_disk_is_idempotent_and_outlives_its_folder_and_a_new_staging(
    tmp_path: Path,
) -> None:
    store = FrameStore(str(tmp_path))
    staged = store.stage(IMAGE, checkpoint="cp", lane="1", frame_id="f")
    kept = store.keep(checkpoint="cp", lane="1", frame_id="f")
    assert store.keep(checkpoint="cp", lane="1", frame_id="f") == kept  # a replayed keep
    shutil.rmtree(tmp_path / "kept")  # removed behind the store's back
    assert store.keep(checkpoint="cp", lane="1", frame_id="f") == kept
    # The edge writes the frame again (a replay): a new file, the kept one is not rewritten.
    assert store.stage(IMAGE, checkpoint="cp", lane="1", frame_id="f") == staged
    assert Path(staged.uri).stat().st_ino != Path(kept.uri).stat().st_ino
    assert store.get(kept) == IMAGE
    assert [p.name for p in Path(staged.uri).parent.iterdir()] == [Path(staged.uri).name]


async def test_the_cloud_keeps_the_image_the_detection_links_not_another_staged_one(
    tmp_path: Path,
) -> None:
    """An edge replay may stage a second image under one frame id; the kept one is the image
    the guard was shown (the detection's link), and a link naming no image fails."""
    store = FrameStore(str(tmp_path))
    first = store.stage(IMAGE, checkpoint="cp", lane="1", frame_id="f")
    second = store.stage(OTHER, checkpoint="cp", lane="1", frame_id="f")
    for shown in (first, second):
        kept = await keep_image(store, detection(frame_id="f", image=shown))
        assert store.get(kept) == (IMAGE if shown is first else OTHER)
    with pytest.raises(FrameStoreError, match="cannot keep"):
        store.keep(checkpoint="cp", lane="1", frame_id="f", sha256="e" * 64)
    for hostile in ("../../../etc/passwd", "A" * 64, "0" * 63):
        with pytest.raises(FrameStoreError, match="not a SHA-256"):
            store.keep(checkpoint="cp", lane="1", frame_id="f", sha256=hostile)


def test_memory_filesystem_url() -> None:
    store = FrameStore("memory://leakguard-test-frames")
    store.stage(IMAGE, checkpoint="c", lane="2", frame_id="f")
    link = store.keep(checkpoint="c", lane="2", frame_id="f")
    assert link.uri.startswith("memory://")
    assert store.get(link) == IMAGE


def test_sweep_removes_only_expired_images(tmp_path: Path) -> None:
    now = [time.time()]
    store = FrameStore(
        str(tmp_path), staging_retention_s=60, kept_retention_s=3600, clock=lambda: now[0]
    )
    store.stage(IMAGE, checkpoint="c", lane="1", frame_id="old")
    store.keep(checkpoint="c", lane="1", frame_id="old")
    store.stage(OTHER, checkpoint="c", lane="1", frame_id="new")
    old = next((tmp_path / "staging").rglob("old/*.png"))
    os.utime(old, (now[0] - 120, now[0] - 120))
    assert store.sweep() == 1
    assert not old.exists()
    assert not old.parent.exists()  # the frame's staging folder goes with its image
    # An edge that died mid-write left a half-written file: it goes with the staged images.
    leftover = tmp_path / "staging" / "c" / "1" / "new" / f"{'0' * 64}.png.0a1b.part"
    leftover.write_bytes(b"half")
    now[0] += 7200
    assert store.sweep() == 3  # the kept copy, the newer staged frame and the leftover
    assert not leftover.exists()
    with pytest.raises(FrameStoreError):
        FrameStore(str(tmp_path), kept_retention_s=0)


def test_only_stores_on_this_machine_count_as_local(tmp_path: Path) -> None:
    assert FrameStore(str(tmp_path)).is_local
    assert FrameStore("memory://leakguard-test-local").is_local
    memory = fsspec.filesystem("memory")
    assert not FrameStore("s3://bucket/frames", fs=memory).is_local


async def test_a_remote_keep_runs_off_the_event_loop_and_a_local_one_on_it(tmp_path: Path) -> None:
    threads: dict[str, str] = {}

    class Recording(FrameStore):
        def keep(
            self, *, checkpoint: str, lane: str, frame_id: str, sha256: str | None = None
        ) -> ImageLink:
            threads[self._root] = threading.current_thread().name
            return super().keep(checkpoint=checkpoint, lane=lane, frame_id=frame_id, sha256=sha256)

    memory = fsspec.filesystem("memory")
    for store in (Recording(str(tmp_path)), Recording("s3://remote-frames", fs=memory)):
        staged = store.stage(b"png", checkpoint="cp", lane="1", frame_id="f")
        kept = await keep_image(store, detection(frame_id="f"))
        assert kept.sha256 == staged.sha256
    assert threads[str(tmp_path)] == threading.current_thread().name
    assert threads["s3://remote-frames"] != threading.current_thread().name


def test_hostile_frame_keys_stay_inside_the_store(tmp_path: Path) -> None:
    """Checkpoint, lane and frame id come from events: ``..``, ``.``, empty parts and
    slashes become plain names inside the store, never steps out of it."""
    root = tmp_path / "store"
    store = FrameStore(str(root))
    for checkpoint, lane, frame_id in (("..", "..", "../../../escaped"), (".", "", "..")):
        staged = store.stage(IMAGE, checkpoint=checkpoint, lane=lane, frame_id=frame_id)
        kept = store.keep(checkpoint=checkpoint, lane=lane, frame_id=frame_id)
        for link in (staged, kept):
            assert Path(link.uri).resolve().is_relative_to(root.resolve()), link.uri
            assert store.get(link) == IMAGE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]


def test_a_link_out_of_the_store_is_refused(tmp_path: Path) -> None:
    store = FrameStore(str(tmp_path / "store"))
    outside = tmp_path / "other.png"
    outside.write_bytes(IMAGE)
    with pytest.raises(FrameStoreError, match="outside the image roots"):
        store.get(ImageLink(uri=str(outside), sha256=hashlib.sha256(IMAGE).hexdigest()))

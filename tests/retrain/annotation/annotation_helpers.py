"""Builders and plumbing shared by the annotation tests: frame images in a real frame
store, annotation tasks as the cloud worker writes them, the bridge's topics, and a TCP
relay that stands for a network path to Label Studio that can go down and come back. The
Kafka plumbing itself is tests/kafka_kit.py."""

from __future__ import annotations

import contextlib
import io
import socket
import threading
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Final

import numpy as np
from PIL import Image

from infra.processes import LOOPBACK
from schemas import Codec
from schemas.events import AnnotationTask, Box, ImageLink, PreAnnotation
from schemas.images import ImageReader
from schemas.topics import Topics
from streams.frame_store import FrameStore
from tests.kafka_kit import create_topics, publish

CODEC = Codec()
#: Partitions of each of the bridge's topics in these tests (the spec has 4, 4 and 1).
BRIDGE_PARTITIONS: Final = 2
#: The key of every task these tests send: one partition, so tasks arrive in order.
TASK_MESSAGE_KEY: Final = b"frame"


def png(width: int, height: int, *, seed: int) -> bytes:
    """A small noisy RGB PNG."""
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def frame_images(tmp_path: Path) -> ImageReader:
    """The bridge's image reader, confined to the frame store of the tests
    (``tmp_path / "frames"``, where :func:`kept_image` keeps)."""
    return ImageReader(roots=(str(tmp_path / "frames"),))


def kept_image(store_dir: Path, *, frame_id: str, seed: int) -> tuple[ImageLink, bytes]:
    """An image staged and kept in a real frame store, as the edge and cloud workers do."""
    store = FrameStore(str(store_dir))
    data = png(160, 120, seed=seed)
    store.stage(data, checkpoint="hq-north", lane="1", frame_id=frame_id)
    return store.keep(checkpoint="hq-north", lane="1", frame_id=frame_id), data


def box(x1: float, y1: float, x2: float, y2: float) -> Box:
    return Box(x1=x1, y1=y1, x2=x2, y2=y2)


def fp_task(image: ImageLink, *, frame_id: str, checkpoint: str = "hq-north") -> AnnotationTask:
    """A false-positive task: two rejected detections pre-labelled ``others``."""
    pre = (
        PreAnnotation(
            class_name="others",
            subtype="fp:hdd",
            box=box(10, 20, 50, 60),
            source="detector",
            source_id="m7",
        ),
        PreAnnotation(
            class_name="others",
            subtype="fp:phone",
            box=box(80, 30, 120, 90),
            source="detector",
            source_id="m7",
        ),
    )
    return _task(image, frame_id=frame_id, checkpoint=checkpoint, reason="fp", pre=pre)


def fn_task(image: ImageLink, *, frame_id: str, checkpoint: str = "hq-north") -> AnnotationTask:
    """A false-negative task: a USB stick the guard marked as missed."""
    pre = (PreAnnotation(class_name="usb", box=box(5, 5, 25, 15), source="guard", source_id="g7"),)
    return _task(image, frame_id=frame_id, checkpoint=checkpoint, reason="fn", pre=pre)


def _task(
    image: ImageLink, *, frame_id: str, checkpoint: str, reason: str, pre: tuple[PreAnnotation, ...]
) -> AnnotationTask:
    task_id = uuid.uuid4()
    return AnnotationTask(
        event_id=task_id,
        checkpoint=checkpoint,
        lane="1",
        frame_id=frame_id,
        task_id=task_id,
        model_version="m7",
        image=image,
        pre_annotations=pre,
        reason=reason,  # type: ignore[arg-type]
    )


def bridge_topics(bootstrap: str, prefix: str) -> Topics:
    """The bridge's topics (tasks, annotations, dead letters) under ``<prefix>.``, created
    before any client touches them; returns the catalogue under that prefix."""
    topics = Topics().prefixed(f"{prefix}.")
    names = (topics.annotation_tasks, topics.annotations, topics.dead_letters)
    create_topics(bootstrap, dict.fromkeys(names, BRIDGE_PARTITIONS))
    return topics


def send_tasks(bootstrap: str, topics: Topics, values: Iterable[bytes]) -> None:
    """``values`` (encoded tasks, or garbage) on the task topic, delivered, in order."""
    publish(bootstrap, [(topics.annotation_tasks, TASK_MESSAGE_KEY, value) for value in values])


class Relay:
    """A TCP relay from a free loopback port to ``target_port``, listening only while
    :meth:`up`: before that, connections are refused, as when Label Studio is down."""

    def __init__(self, target_port: int) -> None:
        self._target_port = target_port
        with socket.socket() as probe:
            probe.bind((LOOPBACK, 0))
            self.port: int = probe.getsockname()[1]
        self._server: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def up(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((LOOPBACK, self.port))
        server.listen(16)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            with contextlib.suppress(OSError):
                self._server.close()
            self._server = None

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.create_connection((LOOPBACK, self._target_port))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(source, sink), daemon=True).start()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def running(target: object, stop: threading.Event) -> Iterator[threading.Thread]:
    """Run ``target.run(stop)`` in a thread for the block; stop and join it afterwards."""
    thread = threading.Thread(target=target.run, args=(stop,), daemon=True)  # type: ignore[attr-defined]
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join(timeout=60)

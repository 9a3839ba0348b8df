"""Frame sources: the simulator as a Kafka producer and a bridge for real scanners that
export PNG files into a folder.

Both publish ``ScanFrame`` events keyed ``checkpoint/lane`` (one lane's frames stay in order
on one partition) through :class:`FramePublisher`, which applies back-pressure: when the
producer's queue is full it waits for deliveries instead of dropping frames. The folder
bridge moves each file to ``done/`` once published, or to ``rejected/`` with a clear
:class:`SourceError` message when it cannot be read as a PNG, so the scanner's folder never
fills up and no file is published twice. A :class:`Grouping` may hold files until several
make one frame (the views of one DICOS scan); a held file stays in the folder until its
frame is published, so a crash loses nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol, TypeVar

from confluent_kafka import KafkaException, Producer

from detector.sim.stream import SimulatedFrame
from leakguard.classes import CLASS_NAMES
from schemas.authenticity import Tagger
from schemas.codec import Codec
from schemas.events import Box, LabeledBox, ScanFrame, ScanView
from schemas.exceptions import ImageRejectedError
from schemas.images import png_payload
from streams.exceptions import SourceError

__all__ = [
    "DEFAULT_MAX_FILE_BYTES",
    "DEFAULT_MAX_INLINE_BYTES",
    "EachFile",
    "FramePublisher",
    "Grouping",
    "ReadyFrame",
    "WatchReport",
    "frame_from_file",
    "frame_from_simulated",
    "publish_all",
    "round_robin",
    "watch_folder",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How long one back-pressure wait lasts before the producer is asked again.
BACKPRESSURE_WAIT_S: Final[float] = 0.5
#: Files younger than this may still be being written by the scanner.
SETTLE_S: Final[float] = 0.5
#: Largest PNG the folder bridge sends inside its event: ``scanner.frames`` takes messages
#: of up to 10 MiB (infra/topics.toml), and the event around the image needs room.
DEFAULT_MAX_INLINE_BYTES: Final[int] = 8 * 2**20
#: Largest file the folder bridge reads at all: a broken or hostile export must not fill
#: the bridge's memory.
DEFAULT_MAX_FILE_BYTES: Final[int] = 256 * 2**20


def frame_from_simulated(frame: SimulatedFrame, *, scanner_id: str = "sim") -> ScanFrame:
    """The ``ScanFrame`` of a simulated frame, ground truth (of the top view) and the
    other views included."""
    truth = tuple(
        LabeledBox(
            class_name=CLASS_NAMES[obj.class_id],
            subtype=obj.subtype,
            box=Box(x1=obj.box_xyxy[0], y1=obj.box_xyxy[1], x2=obj.box_xyxy[2], y2=obj.box_xyxy[3]),
        )
        for obj in frame.ground_truth
    )
    return ScanFrame(
        checkpoint=frame.checkpoint_id,
        lane=frame.lane_id,
        frame_id=f"{frame.checkpoint_id}/{frame.lane_id}/{frame.frame_index:09d}",
        scanner_id=scanner_id,
        view_id="top",
        image=png_payload(frame.image_png),
        ground_truth=truth,
        views=tuple(
            ScanView(view_id=view.view_id, image=png_payload(view.image_png))
            for view in frame.views
        ),
    )


def frame_from_file(
    path: Path,
    *,
    checkpoint: str,
    lane: str,
    scanner_id: str = "bridge",
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    max_inline_bytes: int = DEFAULT_MAX_INLINE_BYTES,
    claim_check_uri: str | None = None,
) -> ScanFrame:
    """The ``ScanFrame`` of an exported PNG; its frame id is the file name's stem.

    A file over ``max_inline_bytes`` travels by claim check: the frame names
    ``claim_check_uri`` (where the caller will keep the file; without one such a file is
    refused). A file over ``max_file_bytes`` is refused unread.
    """
    try:
        size = path.stat().st_size
        if size > max_file_bytes:
            raise SourceError(
                f"scanner file {path} has {size} bytes, more than the {max_file_bytes} allowed"
            )
        with path.open("rb") as file:
            data = file.read(max_file_bytes + 1)
        if len(data) > max_file_bytes:
            raise SourceError(f"scanner file {path} grew past {max_file_bytes} bytes")
        by_claim_check = len(data) > max_inline_bytes
        if by_claim_check and claim_check_uri is None:
            raise SourceError(
                f"scanner file {path} has {len(data)} bytes, more than the {max_inline_bytes} "
                "an event carries, and no claim-check place was given"
            )
        payload = png_payload(data, uri=claim_check_uri if by_claim_check else None)
    except OSError as exc:
        raise SourceError(f"cannot read scanner file {path}: {exc.strerror or exc}") from exc
    except ImageRejectedError as exc:
        raise SourceError(f"scanner file {path} is not a PNG image: {exc}") from exc
    return ScanFrame(
        checkpoint=checkpoint,
        lane=lane,
        frame_id=f"{checkpoint}/{lane}/{path.stem}",
        scanner_id=scanner_id,
        view_id="top",
        image=payload,
    )


class FramePublisher:
    """Produces ``ScanFrame`` events to ``topic``; waits (back-pressure) when the queue is full.

    ``tag`` tags each frame with the scanner's producer key (:mod:`schemas.authenticity`)."""

    def __init__(
        self,
        *,
        topic: str,
        bootstrap_servers: str | None = None,
        client_config: Mapping[str, str] | None = None,
        producer: Any = None,
        codec: Codec | None = None,
        tag: Tagger | None = None,
    ) -> None:
        if producer is None:
            if not bootstrap_servers:
                raise SourceError("a frame publisher needs bootstrap_servers or a producer")
            producer = Producer(
                {
                    "bootstrap.servers": bootstrap_servers,
                    **(client_config or {}),
                    "partitioner": "murmur2_random",  # the partitioner Faust and Java use
                    "message.max.bytes": 12_000_000,
                    "linger.ms": 5,
                }
            )
        self._producer = producer
        self._topic = topic
        self._codec = codec if codec is not None else Codec()
        self._tag = tag

    @property
    def producer(self) -> Any:
        """The Kafka producer (the health check asks it for the cluster's metadata)."""
        return self._producer

    def publish(self, frame: ScanFrame) -> None:
        """Queue one frame; blocks while the producer's queue is full."""
        value = self._codec.encode(frame)
        key = f"{frame.checkpoint}/{frame.lane}".encode()
        headers = None if self._tag is None else self._tag(value)
        while True:
            try:
                self._producer.produce(self._topic, key=key, value=value, headers=headers)
                break
            except BufferError:
                log.debug("producer queue is full; waiting for deliveries (back-pressure)")
                self._producer.poll(BACKPRESSURE_WAIT_S)
            except KafkaException as exc:
                raise SourceError(f"cannot publish frame {frame.frame_id}: {exc}") from exc
        self._producer.poll(0)

    def flush(self, timeout_s: float = 30.0) -> int:
        """Wait for queued frames; returns how many are still undelivered."""
        remaining: int = self._producer.flush(timeout_s)
        return remaining


def round_robin(sources: Iterable[Iterator[T]]) -> Iterator[T]:
    """One item of each source in turn until all are exhausted (lanes of one simulator)."""
    active = list(sources)
    while active:
        for source in list(active):
            item = next(source, None)
            if item is None:
                active.remove(source)
            else:
                yield item


def publish_all(frames: Iterable[ScanFrame], publisher: FramePublisher) -> int:
    """Publish every frame of ``frames`` (the simulator's pace is the iterable's)."""
    count = 0
    for frame in frames:
        publisher.publish(frame)
        count += 1
    publisher.flush()
    return count


@dataclass
class WatchReport:
    """What :func:`watch_folder` did: frames published, files moved to ``rejected/``, files
    still held in the folder for a frame not yet whole when it stopped."""

    published: int = 0
    rejected: int = 0
    held: int = 0


@dataclass(frozen=True)
class ReadyFrame:
    """A frame to publish and the files it was made of, which move to ``done/`` after it."""

    frame: ScanFrame
    paths: tuple[Path, ...]


class Grouping(Protocol):
    """How :func:`watch_folder` makes published frames of the frames read from single files.

    It may hold a file until the others of its frame arrive; a held file stays in the
    folder (the loop skips it while held), so after a crash the next run reads it again.
    """

    def add(self, path: Path, frame: ScanFrame, *, mtime: float) -> list[ReadyFrame]:
        """Take ``frame``, read from ``path`` (modified at ``mtime``); return what is whole."""
        ...

    def expire(self, *, now: float) -> list[ReadyFrame]:
        """What has waited too long for its other files, to be published as it is."""
        ...

    def held(self) -> Collection[Path]:
        """The files taken but not yet returned in a :class:`ReadyFrame`."""
        ...


class EachFile:
    """Every file its own frame, published at once: the PNG bridge, single-view scanners."""

    def add(self, path: Path, frame: ScanFrame, *, mtime: float) -> list[ReadyFrame]:
        return [ReadyFrame(frame, (path,))]

    def expire(self, *, now: float) -> list[ReadyFrame]:
        return []

    def held(self) -> Collection[Path]:
        return ()


def _settled_files(folder: Path, *, now: float, pattern: str) -> list[tuple[float, Path]]:
    """``(mtime, path)`` of the files matching ``pattern`` old enough to be complete, oldest
    first.

    A file that vanishes between listing and ``stat`` (the scanner renamed it) is skipped;
    a dangling link keeps its own time so it is rejected rather than stopping the watch.
    """
    found = []
    for path in folder.glob(pattern):
        try:
            mtime = path.stat().st_mtime if path.exists() else path.lstat().st_mtime
        except FileNotFoundError:
            continue
        if now - mtime >= SETTLE_S:
            found.append((mtime, path))
    return sorted(found, key=lambda item: (item[0], item[1].name))


def watch_folder(
    folder: Path,
    *,
    checkpoint: str,
    lane: str,
    publish: Callable[[ScanFrame], None],
    poll_s: float = 0.5,
    should_stop: Callable[[], bool] = lambda: False,
    clock: Callable[[], float] = time.time,
    pattern: str = "*.png",
    read: Callable[[Path], ScanFrame] | None = None,
    grouping: Grouping | None = None,
    write_reasons: bool = False,
    max_inline_bytes: int = DEFAULT_MAX_INLINE_BYTES,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> WatchReport:
    """Publish every file matching ``pattern`` that appears in ``folder`` (oldest first)
    until ``should_stop``; ``read`` makes a file's frame (default: an exported PNG) and
    ``grouping`` which files make one published frame (default: :class:`EachFile`).

    Published files move to ``done/``; a PNG over ``max_inline_bytes`` is published by
    claim check naming its place there (start the edge with that folder as a
    ``--claim-check-root``, and keep the files as long as the edge may lag). Unreadable
    files (not a PNG, over ``max_file_bytes``, a folder, a dangling link, no read
    permission) move to ``rejected/``, each with its reason logged as an error and,
    with ``write_reasons``, written beside it (``<name>.reason.txt``) for whoever empties
    the folder.
    """
    done, rejected = folder / "done", folder / "rejected"
    done.mkdir(parents=True, exist_ok=True)
    rejected.mkdir(parents=True, exist_ok=True)

    def read_png(path: Path) -> ScanFrame:
        return frame_from_file(
            path,
            checkpoint=checkpoint,
            lane=lane,
            max_file_bytes=max_file_bytes,
            max_inline_bytes=max_inline_bytes,
            claim_check_uri=(done / path.name).resolve().as_uri(),
        )

    read_frame = read or read_png
    group = grouping if grouping is not None else EachFile()
    report = WatchReport()

    def publish_ready(ready: list[ReadyFrame]) -> None:
        for item in ready:
            if item.frame.image.uri is not None:  # the claim check names the file in done/
                _move_all(item.paths, done)
                publish(item.frame)
            else:
                publish(item.frame)
                _move_all(item.paths, done)
            report.published += 1

    while True:
        held = frozenset(group.held())
        for mtime, path in _settled_files(folder, now=clock(), pattern=pattern):
            if path in held:
                continue
            try:
                frame = read_frame(path)
            except SourceError as exc:
                log.error("%s; moved to %s", exc, rejected)
                path.replace(rejected / path.name)
                if write_reasons:
                    (rejected / f"{path.name}.reason.txt").write_text(f"{exc}\n", encoding="utf-8")
                report.rejected += 1
                continue
            publish_ready(group.add(path, frame, mtime=mtime))
        publish_ready(group.expire(now=clock()))
        if should_stop():
            report.held = len(group.held())
            return report
        time.sleep(poll_s)


def _move_all(paths: Iterable[Path], folder: Path) -> None:
    for path in paths:
        path.replace(folder / path.name)
